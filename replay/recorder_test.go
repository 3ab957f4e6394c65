package replay

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
)

var zeroTime time.Time

func TestRoundTripAcrossRotations(t *testing.T) {
	recs := simRecords(t, 4000, 8, 500)
	for _, tc := range []struct {
		name string
		cfg  RecorderConfig
		segs int // at least
		n    int // records
	}{
		{"defaults", RecorderConfig{}, 1, len(recs)},
		{"small blocks", RecorderConfig{BlockBytes: 4 << 10}, 1, len(recs)},
		{"rotation by size", RecorderConfig{BlockBytes: 4 << 10, SegmentBytes: 24 << 10}, 4, len(recs)},
		{"one record per block", RecorderConfig{BlockBytes: 1, SegmentBytes: 64 << 10}, 2, 800},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.cfg.Dir = dir
			record(t, tc.cfg, recs[:tc.n])
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
			idxs, _ := filepath.Glob(filepath.Join(dir, "*"+idxFileSuffix))
			if len(segs) < tc.segs || len(idxs) != len(segs) {
				t.Fatalf("%d segments and %d indexes, want at least %d of each", len(segs), len(idxs), tc.segs)
			}
			got, err := readAll(t, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, recs[:tc.n], got)
		})
	}
}

func TestRecorderRefusesUsedDir(t *testing.T) {
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir}, simRecords(t, 10, 2, 0))
	if _, err := NewRecorder(RecorderConfig{Dir: dir}); err == nil {
		t.Fatal("NewRecorder on a recording: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, segName(1))); err != nil {
		t.Fatal(err)
	}
}

// Writers on several goroutines, with the flusher and age rotation running: every record lands once, each
// writer's records in its order.
func TestRecorderConcurrentWrites(t *testing.T) {
	const writers, per = 6, 400
	recs := simRecords(t, per, 4, 100)
	dir := t.TempDir()
	r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger(), BlockBytes: 2 << 10,
		FlushInterval: 2 * time.Millisecond, SegmentAge: 15 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i, rec := range recs {
				rec.Partition, rec.Offset = w, int64(i)
				if err := r.Write(rec); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(recs[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := r.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r.Records() != writers*per {
		t.Fatalf("Records() = %d, want %d", r.Records(), writers*per)
	}
	got, err := readAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*per {
		t.Fatalf("read %d records, want %d", len(got), writers*per)
	}
	next := make([]int64, writers)
	for _, g := range got {
		want := recs[g.Offset]
		if g.Offset != next[g.Partition] || !bytes.Equal(g.Value, want.Value) || !g.Time.Equal(want.Time) {
			t.Fatalf("writer %d: record %d out of order or changed (want %d)", g.Partition, g.Offset, next[g.Partition])
		}
		next[g.Partition]++
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
	if len(segs) < 2 {
		t.Errorf("%d segments: age rotation did not happen", len(segs))
	}
}

// Write copies Key and Value: the caller may reuse its buffers at once.
func TestRecorderCopies(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	key, val := []byte("k1"), []byte("v1")
	if err := r.Write(engine.Record{Time: t0, Key: key, Value: val}); err != nil {
		t.Fatal(err)
	}
	key[1], val[1] = '2', '2'
	if err := r.Write(engine.Record{Offset: 1, Time: t0, Key: key, Value: val}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, dir, nil)
	if err != nil || len(got) != 2 || string(got[0].Key)+string(got[0].Value) != "k1v1" || string(got[1].Value) != "v2" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestRecorderConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg RecorderConfig
		ok  bool
	}{
		{RecorderConfig{Dir: "x"}, true},
		{RecorderConfig{}, false},
		{RecorderConfig{Dir: "x", BlockBytes: -1}, false},
		{RecorderConfig{Dir: "x", BlockBytes: MaxBlockBytes}, false},
		{RecorderConfig{Dir: "x", SegmentBytes: 10}, false},
		{RecorderConfig{Dir: "x", SegmentAge: -time.Second}, false},
		{RecorderConfig{Dir: "x", FlushInterval: -time.Second}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v", tc.cfg, err)
		}
	}
	d := RecorderConfig{Dir: "x"}.WithDefaults()
	if d.SegmentBytes != DefaultSegmentBytes || d.SegmentAge != DefaultSegmentAge || d.BlockBytes != DefaultBlockBytes || d.FlushInterval != DefaultFlushInterval || d.Logger == nil {
		t.Errorf("defaults: %+v", d)
	}
}

// Records the format cannot hold are refused, and the recorder goes on.
func TestRecorderRefusesBadRecords(t *testing.T) {
	r, err := NewRecorder(RecorderConfig{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, rec := range []engine.Record{
		{Time: time.Time{}},
		{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Time: t0, Partition: -1},
		{Time: t0, Value: make([]byte, MaxRecordBytes+1)},
	} {
		if err := r.Write(rec); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Write(%v, partition %d, %d bytes) = %v, want ErrBadRecord", rec.Time, rec.Partition, len(rec.Value), err)
		}
	}
	if err := r.Write(engine.Record{Time: t0}); err != nil {
		t.Fatal(err)
	}
}

// A failed write to disk is reported by that Write, every later Write and Close; the blocks written before
// it stay readable.
func TestRecorderWriteFailure(t *testing.T) {
	recs := simRecords(t, 200, 2, 0)
	dir := t.TempDir()
	r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[:100] {
		if err := r.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	_ = r.seg.f.Close() // the disk goes away
	r.mu.Unlock()
	if err := r.Write(recs[100]); err != nil {
		t.Fatal(err) // buffered in the open block
	}
	werr := r.Flush()
	if werr == nil {
		t.Fatal("Flush to a closed file: no error")
	}
	if err := r.Write(recs[101]); !errors.Is(err, werr) {
		t.Fatalf("Write after the failure: %v, want %v", err, werr)
	}
	if err := r.Close(); err == nil {
		t.Fatal("Close after the failure: no error")
	}
	got, err := readAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, recs[:100], got)
}
