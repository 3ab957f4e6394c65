package replay

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damaged is a recording made by a Recorder, about to be damaged: its segment paths and indexes.
type damaged struct {
	dir  string
	segs []string
	idx  []*segIndex
}

// before counts the records before block blk of segment seg.
func (d *damaged) before(seg, blk int) int {
	n := 0
	for s := range seg {
		for _, b := range d.idx[s].Blocks {
			n += int(b.Records)
		}
	}
	for _, b := range d.idx[seg].Blocks[:blk] {
		n += int(b.Records)
	}
	return n
}

func (d *damaged) flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *damaged) truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func (d *damaged) remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Every kind of damage on real files: the reader serves every record before the damage, then an error that
// names the file and the offset; index trouble costs a warning, not data.
func TestDamagedRecordings(t *testing.T) {
	recs := simRecords(t, 3000, 6, 300)
	type want struct {
		n    int    // records served
		file string // of the error; "" for a clean end
		off  int64
		err  error
		warn []string // in the log
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, d *damaged) want
	}{
		{"truncated tail mid-block", func(t *testing.T, d *damaged) want {
			last := len(d.segs) - 1
			b := d.idx[last].Blocks[len(d.idx[last].Blocks)-2]
			d.truncate(t, d.segs[last], b.Offset+b.Size/2)
			return want{d.before(last, len(d.idx[last].Blocks)-2), d.segs[last], b.Offset, ErrTruncated,
				[]string{idxPathFor(d.segs[last]), "index covers"}}
		}},
		{"killed mid-block: no index, torn tail", func(t *testing.T, d *damaged) want {
			last := len(d.segs) - 1
			b := d.idx[last].Blocks[len(d.idx[last].Blocks)-1]
			d.remove(t, idxPathFor(d.segs[last]))
			d.truncate(t, d.segs[last], b.Offset+blkHeaderSize+3)
			return want{d.before(last, len(d.idx[last].Blocks)-1), d.segs[last], b.Offset, ErrTruncated,
				[]string{"missing", d.segs[last]}}
		}},
		{"killed inside a block header", func(t *testing.T, d *damaged) want {
			last := len(d.segs) - 1
			b := d.idx[last].Blocks[len(d.idx[last].Blocks)-1]
			d.remove(t, idxPathFor(d.segs[last]))
			d.truncate(t, d.segs[last], b.Offset+7)
			return want{d.before(last, len(d.idx[last].Blocks)-1), d.segs[last], b.Offset, ErrTruncated, []string{"missing"}}
		}},
		{"truncated at a block boundary", func(t *testing.T, d *damaged) want {
			last := len(d.segs) - 1
			b := d.idx[last].Blocks[len(d.idx[last].Blocks)-1]
			d.truncate(t, d.segs[last], b.Offset)
			return want{d.before(last, len(d.idx[last].Blocks)-1), d.segs[last], b.Offset, ErrTruncated, []string{"index covers"}}
		}},
		{"flipped byte in a block payload", func(t *testing.T, d *damaged) want {
			b := d.idx[1].Blocks[2]
			d.flip(t, d.segs[1], b.Offset+blkHeaderSize+b.Size/3)
			return want{d.before(1, 2), d.segs[1], b.Offset, ErrChecksum, nil}
		}},
		{"flipped byte in a block header", func(t *testing.T, d *damaged) want {
			b := d.idx[1].Blocks[1]
			d.flip(t, d.segs[1], b.Offset+5)
			return want{d.before(1, 1), d.segs[1], b.Offset, ErrChecksum, nil}
		}},
		{"flipped byte, no index", func(t *testing.T, d *damaged) want {
			b := d.idx[1].Blocks[3]
			d.remove(t, idxPathFor(d.segs[1]))
			d.flip(t, d.segs[1], b.Offset+blkHeaderSize+1)
			return want{d.before(1, 3), d.segs[1], b.Offset, ErrChecksum, []string{"missing", "damaged segment"}}
		}},
		{"wrong version", func(t *testing.T, d *damaged) want {
			d.flip(t, d.segs[1], 8)
			return want{d.before(1, 0), d.segs[1], 8, ErrVersion, []string{"unreadable segment"}}
		}},
		{"wrong magic", func(t *testing.T, d *damaged) want {
			d.flip(t, d.segs[1], 0)
			return want{d.before(1, 0), d.segs[1], 0, ErrBadMagic, []string{"unreadable segment"}}
		}},
		{"flipped byte in a segment header", func(t *testing.T, d *damaged) want {
			d.flip(t, d.segs[1], 14)
			return want{d.before(1, 0), d.segs[1], 24, ErrChecksum, []string{"unreadable segment"}}
		}},
		{"empty segment file", func(t *testing.T, d *damaged) want {
			d.truncate(t, d.segs[2], 0)
			return want{d.before(2, 0), d.segs[2], 0, ErrTruncated, []string{"unreadable segment"}}
		}},
		{"missing segment", func(t *testing.T, d *damaged) want {
			d.remove(t, d.segs[1])
			d.remove(t, idxPathFor(d.segs[1]))
			return want{d.before(1, 0), d.segs[1], 0, ErrMissing, []string{"segments missing"}}
		}},
		{"deleted index", func(t *testing.T, d *damaged) want {
			d.remove(t, idxPathFor(d.segs[1]))
			return want{n: len(recs), warn: []string{"rebuilding", idxPathFor(d.segs[1]), "missing"}}
		}},
		{"damaged index", func(t *testing.T, d *damaged) want {
			d.flip(t, idxPathFor(d.segs[1]), 30)
			return want{n: len(recs), warn: []string{"rebuilding", idxPathFor(d.segs[1]), "checksum mismatch"}}
		}},
		{"index of another version", func(t *testing.T, d *damaged) want {
			d.flip(t, idxPathFor(d.segs[0]), 8)
			return want{n: len(recs), warn: []string{"rebuilding", idxPathFor(d.segs[0]), "version"}}
		}},
		{"index of another segment", func(t *testing.T, d *damaged) want {
			b, _ := os.ReadFile(idxPathFor(d.segs[0]))
			if err := os.WriteFile(idxPathFor(d.segs[1]), b, 0o644); err != nil {
				t.Fatal(err)
			}
			return want{n: len(recs), warn: []string{"rebuilding", idxPathFor(d.segs[1])}}
		}},
	}
	base := t.TempDir()
	record(t, RecorderConfig{Dir: base, BlockBytes: 4 << 10, SegmentBytes: 32 << 10}, recs)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			d := &damaged{dir: dir}
			d.segs, _ = filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
			if len(d.segs) < 3 {
				t.Fatalf("%d segments, want at least 3", len(d.segs))
			}
			for _, s := range d.segs {
				b, err := os.ReadFile(idxPathFor(s))
				if err != nil {
					t.Fatal(err)
				}
				x, err := decodeIndex(s, b)
				if err != nil {
					t.Fatal(err)
				}
				if len(x.Blocks) < 4 {
					t.Fatalf("%s has %d blocks, want at least 4", s, len(x.Blocks))
				}
				d.idx = append(d.idx, x)
			}
			w := tc.damage(t, d)

			var logs bytes.Buffer
			got, err := readAll(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
			sameRecords(t, recs[:w.n], got)
			if w.err == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
			} else {
				var fe *FormatError
				if !errors.As(err, &fe) || !errors.Is(err, w.err) {
					t.Fatalf("error %v, want a *FormatError wrapping %v", err, w.err)
				}
				if fe.File != w.file || fe.Offset != w.off {
					t.Fatalf("error at %s byte %d, want %s byte %d (%v)", fe.File, fe.Offset, w.file, w.off, err)
				}
				if !strings.Contains(err.Error(), w.file) {
					t.Fatalf("error %q does not name %s", err, w.file)
				}
			}
			for _, s := range w.warn {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
			if len(w.warn) == 0 && logs.Len() > 0 {
				t.Errorf("unexpected log:\n%s", logs.String())
			}
		})
	}
}

// Segments removed from the start of a recording (to save space, say) leave a shorter recording, not a
// damaged one.
func TestFirstSegmentsRemoved(t *testing.T) {
	recs := simRecords(t, 1000, 4, 100)
	dir := t.TempDir()
	record(t, RecorderConfig{Dir: dir, BlockBytes: 4 << 10, SegmentBytes: 16 << 10}, recs)
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segFileSuffix))
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range rec.segs[:2] {
		for _, b := range s.idx.Blocks {
			n += int(b.Records)
		}
		if err := os.Remove(s.path); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, recs[n:], got)
}
