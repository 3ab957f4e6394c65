package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Recording is a directory of segments written by a Recorder, opened for reading. It is immutable once
// opened and safe for concurrent use: every Open returns an independent Cursor.
type Recording struct {
	dir  string
	log  *slog.Logger
	segs []*segment
}

// segment is one segment file as OpenDir found it: the index of its readable blocks and, when it is
// damaged, the damage that follows the last of them.
type segment struct {
	path    string
	size    int64
	idx     *segIndex
	damage  error // *FormatError after the indexed blocks, nil when the segment ends cleanly
	rebuilt error // why the index was rebuilt from the segment, nil when it was read from its file
}

var _ Source = (*Recording)(nil)

// OpenDir opens the recording in dir, logging through slog.Default(). See OpenDirLogger.
func OpenDir(dir string) (*Recording, error) { return OpenDirLogger(dir, nil) }

// OpenDirLogger opens the recording in dir: it reads the index of every segment, or rebuilds it by reading
// the segment when it is missing, damaged or does not match the segment (with a warning naming the file,
// and the offset of the damage). A damaged segment does not fail OpenDirLogger: its readable blocks are
// served and a Cursor returns the damage after them. Errors: ErrNoSegments, or failure to read the
// directory or a file.
func OpenDirLogger(dir string, log *slog.Logger) (*Recording, error) {
	if log == nil {
		log = slog.Default()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), segFileSuffix) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoSegments, dir)
	}
	sort.Strings(names)
	rec := &Recording{dir: dir, log: log}
	for _, n := range names {
		s, err := loadSegment(filepath.Join(dir, n), log)
		if err != nil {
			return nil, err
		}
		// A gap in the sequence inside the recording is lost data: reading stops before it. (Segments
		// removed from the start, say to save space, are no gap.)
		if len(rec.segs) > 0 {
			prev := rec.segs[len(rec.segs)-1]
			if prev.damage == nil && s.idx.Seq != 0 && prev.idx.Seq != 0 && s.idx.Seq != prev.idx.Seq+1 {
				prev.damage = formatErr(filepath.Join(dir, segName(prev.idx.Seq+1)), 0, ErrMissing,
					"the recording goes from segment %d to %d", prev.idx.Seq, s.idx.Seq)
				log.Warn("replay: segments missing", slog.String("dir", dir), slog.Any("error", prev.damage))
			}
		}
		rec.segs = append(rec.segs, s)
	}
	return rec, nil
}

// loadSegment checks a segment's header and loads (or rebuilds) its index.
func loadSegment(path string, log *slog.Logger) (*segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	size := fi.Size()
	s := &segment{path: path, size: size, idx: &segIndex{Size: segHeaderSize}}
	var hb [segHeaderSize]byte
	n, err := io.ReadFull(f, hb[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
		return nil, fmt.Errorf("replay: read %s: %w", path, err)
	}
	h, err := parseSegHeader(path, hb[:n])
	if err != nil {
		s.damage = err
		log.Warn("replay: unreadable segment", slog.String("file", path), slog.Any("error", err))
		return s, nil
	}
	s.idx.Seq = h.Seq

	ipath := idxPathFor(path)
	data, err := os.ReadFile(ipath)
	var why error
	switch {
	case errors.Is(err, os.ErrNotExist):
		why = fmt.Errorf("index %s is missing", ipath)
	case err != nil:
		return nil, fmt.Errorf("replay: %w", err)
	default:
		x, err := decodeIndex(ipath, data)
		switch {
		case err != nil:
			why = err
		case x.Seq != h.Seq:
			why = formatErr(ipath, 12, ErrCorrupt, "index of segment %d, the segment is %d", x.Seq, h.Seq)
		case x.Size == size:
			s.idx = x
			return s, nil
		case x.Size > size:
			// The segment lost its end: serve what remains, then say so.
			why = formatErr(ipath, 16, ErrCorrupt, "index covers %d bytes, the segment has %d", x.Size, size)
			defer func() {
				if s.damage == nil {
					s.damage = formatErr(path, size, ErrTruncated, "the segment ends at byte %d, its index says %d", size, x.Size)
				}
			}()
		default:
			why = formatErr(ipath, 16, ErrCorrupt, "index covers %d bytes, the segment has %d", x.Size, size)
		}
	}
	s.rebuilt = why
	log.Warn("replay: rebuilding segment index by reading the segment", slog.String("file", path), slog.Any("reason", why))
	d, err := newDecoder()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	br := &blockReader{name: path, r: bufio.NewReaderSize(f, 1<<16), off: segHeaderSize, size: size, dec: d}
	x, err := scanSegment(br, h.Seq)
	s.idx = x
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			return nil, err
		}
		s.damage = err
		log.Warn("replay: damaged segment: its blocks before the damage are readable", slog.String("file", path), slog.Any("error", err))
	}
	return s, nil
}

// Dir returns the recording's directory.
func (r *Recording) Dir() string { return r.dir }

// Symbols lists the symbols with valid events in the recording, sorted, from its segment indexes: those of
// RecordingSymbols.
func (r *Recording) Symbols(context.Context) ([]string, error) { return RecordingSymbols(r), nil }

// Range reports the earliest and the latest record time of the recording's readable blocks. With none it
// returns ErrEmpty (and the first damage, when there is one).
func (r *Recording) Range(ctx context.Context) (first, last time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return first, last, err
	}
	var lo, hi int64
	n := 0
	for _, s := range r.segs {
		for _, b := range s.idx.Blocks {
			if n == 0 || b.MinTime < lo {
				lo = b.MinTime
			}
			if n == 0 || b.MaxTime > hi {
				hi = b.MaxTime
			}
			n++
		}
	}
	if n == 0 {
		if d := r.firstDamage(); d != nil {
			return first, last, fmt.Errorf("%w: %w", ErrEmpty, d)
		}
		return first, last, ErrEmpty
	}
	return time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC(), nil
}

func (r *Recording) firstDamage() error {
	for _, s := range r.segs {
		if s.damage != nil {
			return s.damage
		}
	}
	return nil
}

// Damage returns the damage found in the recording's segments when it was opened, in file order (each a
// *FormatError). Damage found only while reading (a block whose checksum fails) is not among them.
func (r *Recording) Damage() []error {
	var out []error
	for _, s := range r.segs {
		if s.damage != nil {
			out = append(out, s.damage)
		}
	}
	return out
}

// Close releases the recording. Cursors already open stay usable until closed.
func (r *Recording) Close() error { return nil }

// position is a block of the recording: segment and block index.
type position struct{ seg, blk int }

func (p position) less(q position) bool { return p.seg < q.seg || p.seg == q.seg && p.blk < q.blk }

// Open returns a cursor over the recording in file order, starting at the latest block from which every
// symbol with events before from still has its last snapshot before from ahead (per the index; blocks
// whose records straddle from count as after it), and never after a record at or after from. A zero from
// starts at the beginning, and so does a from past damage in an earlier segment (the cursor then returns
// the records before the damage, then the damage).
func (r *Recording) Open(ctx context.Context, from time.Time) (Cursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := r.startFor(from)
	return newCursor(r, start)
}

// startFor picks the first block Open reads for from.
func (r *Recording) startFor(from time.Time) position {
	if from.IsZero() {
		return position{}
	}
	var f int64
	switch {
	case from.Before(minTime):
		return position{}
	case from.After(maxTime):
		f = maxTime.UnixNano()
	default:
		f = from.UnixNano()
	}
	need := make(map[string]position) // per symbol with events before from: the block it must be read from
	var firstAfter *position          // first block with a record at or after from
	for si, s := range r.segs {
		for bi, b := range s.idx.Blocks {
			p := position{si, bi}
			if b.MaxTime >= f && firstAfter == nil {
				firstAfter = &p
			}
			if b.MinTime >= f {
				continue // nothing before from
			}
			for _, ref := range b.Syms {
				sym := s.idx.Syms[ref.ID]
				if ref.Snapshot && b.MaxTime < f {
					need[sym] = p // a later snapshot, all before from
				} else if _, ok := need[sym]; !ok {
					need[sym] = p // first seen, no snapshot yet
				}
			}
		}
	}
	var start position
	found := false
	consider := func(p position) {
		if !found || p.less(start) {
			start, found = p, true
		}
	}
	for _, p := range need {
		consider(p)
	}
	if firstAfter != nil {
		consider(*firstAfter)
	}
	if !found {
		return position{}
	}
	for si := 0; si < start.seg; si++ {
		if r.segs[si].damage != nil {
			return position{}
		}
	}
	return start
}
