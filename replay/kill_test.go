package replay

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const killDirEnv = "DEPTHCAST_TEST_RECORDER_DIR"

// TestRecorderKilledHelper is the recording process of TestRecorderKilled; it does nothing on its own.
func TestRecorderKilledHelper(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("run by TestRecorderKilled")
	}
	recs := simRecords(t, 6000, 4, 300)
	r, err := NewRecorder(RecorderConfig{Dir: dir, Logger: quietLogger(), BlockBytes: 3000, FlushInterval: time.Millisecond, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if err := r.Write(rec); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(time.Minute) // the parent kills us before
}

// A recorder killed with SIGKILL while it writes leaves a recording whose every complete block reads back:
// a prefix of what was written, ending cleanly or with ErrTruncated at the cut.
func TestRecorderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	for round := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecorderKilledHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it at a different moment each round, while blocks are being written.
		want := int64(20<<10) * int64(round+1)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var size int64
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
			for _, s := range segs {
				if fi, err := os.Stat(s); err == nil {
					size += fi.Size()
				}
			}
			if size >= want {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("the recording process wrote %d bytes in 30s", size)
			}
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		got, err := readAll(t, dir, nil)
		if err != nil && !errors.Is(err, ErrTruncated) {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(got) == 0 {
			t.Fatalf("round %d: nothing readable", round)
		}
		all := simRecords(t, 6000, 4, 300)
		sameRecords(t, all[:len(got)], got)
		t.Logf("round %d: %d records readable, end: %v", round, len(got), err)
	}
}
