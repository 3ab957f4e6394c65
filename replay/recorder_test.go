package replay

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

var zeroTime time.Time

func TestRoundTripAcrossRotations(t *testing.T) {
	recs := simRecords(t, 4000, 8, 500)
	for _, tc := range []struct {
		name string
		cfg  RecorderConfig
		segs int // at least
	}{
		{"defaults", RecorderConfig{}, 1},
		{"small blocks", RecorderConfig{BlockBytes: 4 << 10}, 1},
		{"rotation by size", RecorderConfig{BlockBytes: 4 << 10, SegmentBytes: 24 << 10}, 4},
		{"one record per block", RecorderConfig{BlockBytes: 1, SegmentBytes: 128 << 10}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.cfg.Dir = dir
			record(t, tc.cfg, recs)
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
			idxs, _ := filepath.Glob(filepath.Join(dir, "*"+idxFileSuffix))
			if len(segs) < tc.segs || len(idxs) != len(segs) {
				t.Fatalf("%d segments and %d indexes, want at least %d of each", len(segs), len(idxs), tc.segs)
			}
			got, err := readAll(t, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, recs, got)
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
