package replay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Verify counts everything in a sound recording, and in a damaged one reports each damaged segment and
// goes on with the next.
func TestVerify(t *testing.T) {
	recs := simRecords(t, 2000, 5, 200)
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir, BlockBytes: 4 << 10, SegmentBytes: 24 << 10}, recs)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := rec.Verify(context.Background())
	if err != nil || len(sum.Damage) != 0 {
		t.Fatalf("sound recording: %v %v", err, sum.Damage)
	}
	perPart := map[int]int64{}
	for _, r := range recs {
		perPart[r.Partition]++
	}
	if sum.Records != int64(len(recs)) || sum.Symbols != 5 || len(sum.Segments) < 3 || !sum.First.Equal(recs[0].Time) || !sum.Last.Equal(recs[len(recs)-1].Time) {
		t.Fatalf("summary %+v", sum)
	}
	for _, p := range sum.Partitions {
		if p.Records != perPart[p.Partition] || p.FirstOffset != 0 || p.LastOffset != perPart[p.Partition]-1 || p.Backwards != 0 {
			t.Errorf("partition summary %+v, want %d records", p, perPart[p.Partition])
		}
	}

	// Damage the first and the second segment; the third stays sound.
	first := rec.segs[0]
	b, _ := os.ReadFile(first.path)
	b[first.idx.Blocks[1].Offset+blkHeaderSize+3] ^= 1
	if err := os.WriteFile(first.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	second := rec.segs[1]
	if err := os.Truncate(second.path, second.size-5); err != nil {
		t.Fatal(err)
	}
	rec, err = OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	sum, err = rec.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Damage) != 2 || !errors.Is(sum.Segments[0].Damage, ErrChecksum) || !errors.Is(sum.Segments[1].Damage, ErrTruncated) || sum.Segments[2].Damage != nil {
		t.Fatalf("damage %v", sum.Damage)
	}
	var fe *FormatError
	if !errors.As(sum.Damage[0], &fe) || filepath.Base(fe.File) != filepath.Base(first.path) || fe.Offset != first.idx.Blocks[1].Offset {
		t.Fatalf("first damage %v", sum.Damage[0])
	}
	if sum.Segments[0].Blocks != 1 || sum.Segments[2].Blocks != len(rec.segs[2].idx.Blocks) {
		t.Fatalf("segments %+v", sum.Segments)
	}
}
