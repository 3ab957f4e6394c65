package replay

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
)

var update = flag.Bool("update", false, "rewrite testdata/v1")

func TestCRC32CCheckValue(t *testing.T) {
	if got := crc([]byte("123456789")); got != 0xE3069283 {
		t.Fatalf("CRC-32C check value %08x, want e3069283", got)
	}
}

// fixtureRecords are the records of testdata/v1: an empty key, an empty value, times before 1970 and with
// nanoseconds, large offsets, two blocks over two segments.
func fixtureRecords() [][]engine.Record {
	ts := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	return [][]engine.Record{
		{
			{Partition: 0, Offset: 0, Time: ts, Key: []byte("BTC-USD"), Value: []byte(`{"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["100","1"]],"asks":[["101","1"]]}`)},
			{Partition: 7, Offset: 1 << 40, Time: time.Date(1969, 7, 20, 20, 17, 0, 1, time.UTC), Key: nil, Value: []byte("not an event")},
		},
		{
			{Partition: 2, Offset: 5, Time: ts.Add(time.Second), Key: []byte("k"), Value: nil},
		},
	}
}

// A recording written by format version 1 stays readable as it was: testdata/v1 is a fixture, not output of
// the current writer (go test -run TestFormatFixture -update rewrites it).
func TestFormatFixture(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	blocks := fixtureRecords()
	if *update {
		_ = os.RemoveAll(dir)
		r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger(), SegmentBytes: segHeaderSize + blkHeaderSize + 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			for _, rec := range b {
				if err := r.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var want []engine.Record
	for _, b := range blocks {
		want = append(want, b...)
	}
	got, err := readAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, want, got)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.segs) != 2 || len(rec.segs[0].idx.Blocks) != 1 || rec.segs[0].idx.Syms[0] != "BTC-USD" || !rec.segs[0].idx.Blocks[0].Syms[0].Snapshot {
		t.Fatalf("fixture index: %+v", rec.segs[0].idx)
	}
	first, last, err := rec.Range(context.Background())
	if err != nil || !first.Equal(blocks[0][1].Time) || !last.Equal(blocks[1][0].Time) {
		t.Fatalf("Range = %v, %v, %v", first, last, err)
	}
}
