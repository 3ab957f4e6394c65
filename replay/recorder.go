package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
	"github.com/klauspost/compress/zstd"
)

// Defaults for the zero values of RecorderConfig.
const (
	DefaultSegmentBytes  = 256 << 20
	DefaultSegmentAge    = time.Hour
	DefaultBlockBytes    = 256 << 10
	DefaultFlushInterval = time.Second
)

// RecorderConfig configures a Recorder. The zero value of every field but Dir means its documented default.
type RecorderConfig struct {
	// Dir is the directory the segments go to. It is created when missing and must not already hold a
	// recording (ErrDirNotEmpty). Required.
	Dir string
	// SegmentBytes: a segment is closed (its index written) and a new one begun once its file reaches this
	// size. Default 256 MiB.
	SegmentBytes int64
	// SegmentAge: a segment is closed once this long has passed since it was begun. Default 1h.
	SegmentAge time.Duration
	// BlockBytes is the uncompressed size at which the open block is compressed and written. Smaller blocks
	// let Recording.Open start closer to a time and lose less in a crash; larger ones compress better.
	// Default 256 KiB, at most MaxBlockBytes/2.
	BlockBytes int
	// FlushInterval: the open block is written at least this often, so that a crash loses at most this much
	// of the stream. Default 1s.
	FlushInterval time.Duration
	// Logger receives segment rotations and write failures. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c RecorderConfig) WithDefaults() RecorderConfig {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentAge == 0 {
		c.SegmentAge = DefaultSegmentAge
	}
	if c.BlockBytes == 0 {
		c.BlockBytes = DefaultBlockBytes
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first invalid field of c after defaults are applied.
func (c RecorderConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case strings.TrimSpace(c.Dir) == "":
		return errors.New("replay: no recording directory")
	case c.SegmentBytes < segHeaderSize+blkHeaderSize:
		return fmt.Errorf("replay: segment size %d too small", c.SegmentBytes)
	case c.SegmentAge < 0:
		return fmt.Errorf("replay: negative segment age %v", c.SegmentAge)
	case c.BlockBytes < 1 || c.BlockBytes > MaxBlockBytes/2:
		return fmt.Errorf("replay: block size %d out of 1..%d", c.BlockBytes, MaxBlockBytes/2)
	case c.FlushInterval < 0:
		return fmt.Errorf("replay: negative flush interval %v", c.FlushInterval)
	}
	return nil
}

// Recorder writes records to a directory of segments (FORMAT.md). Write is safe for concurrent use. A
// background goroutine writes the open block every FlushInterval; Close stops it.
type Recorder struct {
	cfg  RecorderConfig
	log  *slog.Logger
	peek sync.Pool // *peeker

	mu      sync.Mutex
	closed  bool
	err     error // first write failure: every later Write returns it
	enc     *zstd.Encoder
	nextSeq uint32
	seg     *segWriter // nil between segments
	raw     []byte     // payload of the open block
	sum     blockSummary
	buf     []byte // encoded block
	records int64

	stop chan struct{}
	done chan struct{}
}

// segWriter is the open segment.
type segWriter struct {
	f       *os.File
	path    string
	created time.Time
	idx     segIndex
	ids     map[string]uint32
}

type peeker struct {
	dec schema.Decoder
	ev  schema.Event
}

// NewRecorder validates cfg, creates the directory when needed and starts the flush goroutine. The first
// segment file is created with the first record.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, segFileSuffix) || strings.HasSuffix(n, idxFileSuffix) {
			return nil, fmt.Errorf("%w: %s has %s", ErrDirNotEmpty, cfg.Dir, n)
		}
	}
	enc, err := newEncoder()
	if err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, log: cfg.Logger, enc: enc, nextSeq: 1, stop: make(chan struct{}), done: make(chan struct{})}
	r.peek.New = func() any { return new(peeker) }
	go r.flusher()
	return r, nil
}

var _ engine.Tap = (*Recorder)(nil)

// Tap writes rec (engine.Tap): a Recorder set as engine.Config.Tap (ingest.Config.Books.Tap for a
// Consumer) records what the pipeline reads.
func (r *Recorder) Tap(_ context.Context, rec engine.Record) error { return r.Write(rec) }

// Write appends one record to the open block; the bytes of Key and Value are copied. A record whose time
// cannot be stored (outside the years 1678-2262) or whose key and value exceed MaxRecordBytes is refused
// with ErrBadRecord. After a write to disk failed, Write returns that error.
func (r *Recorder) Write(rec engine.Record) error {
	if !recordable(rec.Time) {
		return fmt.Errorf("%w: time %v out of range", ErrBadRecord, rec.Time)
	}
	if len(rec.Key)+len(rec.Value) > MaxRecordBytes {
		return fmt.Errorf("%w: %d bytes of key and value, at most %d", ErrBadRecord, len(rec.Key)+len(rec.Value), MaxRecordBytes)
	}
	if rec.Partition < 0 {
		return fmt.Errorf("%w: negative partition %d", ErrBadRecord, rec.Partition)
	}
	p := r.peek.Get().(*peeker)
	sym, snap := peek(&p.dec, &p.ev, rec.Value)
	r.peek.Put(p)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.err != nil {
		return r.err
	}
	// A block that the record would take past MaxBlockBytes is written first (which may close a segment
	// that is due); the open block always belongs to an open segment, so an empty one has none to flush.
	if len(r.raw) > 0 && len(r.raw)+len(rec.Key)+len(rec.Value)+40 > MaxBlockBytes {
		if err := r.flushLocked(); err != nil {
			return err
		}
	}
	if r.seg == nil {
		if err := r.openSegment(); err != nil {
			return r.fail(err)
		}
	}
	r.raw = appendRecord(r.raw, &rec)
	r.sum.add(rec.Time.UnixNano(), sym, snap)
	r.records++
	if len(r.raw) >= r.cfg.BlockBytes {
		return r.flushLocked()
	}
	return nil
}

// Flush compresses and writes the open block now, ending it (and closes the segment when it is due). Blocks
// are also written when full and every FlushInterval; Flush lets a caller choose block boundaries.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.err != nil {
		return r.err
	}
	return r.flushLocked()
}

// Close writes the open block and the index of the open segment, syncs them to disk and stops the flush
// goroutine. It returns the first write failure, if any. Close is idempotent.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return r.err
	}
	r.closed = true
	close(r.stop)
	err := r.err
	if err == nil {
		err = r.flushLocked()
	}
	if r.seg != nil {
		if cerr := r.closeSegment(); err == nil {
			err = cerr
		}
	}
	r.enc.Close()
	r.mu.Unlock()
	<-r.done
	return err
}

// Records returns how many records were written.
func (r *Recorder) Records() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

func (r *Recorder) fail(err error) error {
	if r.err == nil {
		r.err = err
		r.log.Error("replay: recording failed", slog.String("dir", r.cfg.Dir), slog.Any("error", err))
	}
	return r.err
}

// flusher writes the open block every FlushInterval and closes a segment that outlived SegmentAge.
func (r *Recorder) flusher() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		if !r.closed && r.err == nil {
			_ = r.flushLocked()
		}
		r.mu.Unlock()
	}
}

func (r *Recorder) openSegment() error {
	seq := r.nextSeq
	path := filepath.Join(r.cfg.Dir, segName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	now := time.Now()
	hdr := segHeader{Codec: codecZstd, Seq: seq, Created: now.UnixNano()}.append(nil)
	if _, err := f.Write(hdr); err != nil {
		_ = f.Close()
		return fmt.Errorf("replay: write %s: %w", path, err)
	}
	r.nextSeq++
	r.seg = &segWriter{f: f, path: path, created: now, idx: segIndex{Seq: seq, Size: segHeaderSize}, ids: make(map[string]uint32)}
	r.log.Debug("replay: segment opened", slog.String("file", path))
	return nil
}

// flushLocked compresses and writes the open block, then closes the segment when it is due.
func (r *Recorder) flushLocked() error {
	if r.seg == nil {
		return nil
	}
	s := r.seg
	if len(r.raw) > 0 {
		r.buf = encodeBlock(r.enc, r.buf[:0], r.raw, r.sum.n)
		if _, err := s.f.Write(r.buf); err != nil {
			return r.fail(fmt.Errorf("replay: write %s at byte %d: %w", s.path, s.idx.Size, err))
		}
		s.idx.Blocks = append(s.idx.Blocks, r.sum.meta(&s.idx, s.ids, s.idx.Size, int64(len(r.buf))))
		s.idx.Size += int64(len(r.buf))
		r.raw = r.raw[:0]
		r.sum.reset()
		if cap(r.buf) > 2*MaxBlockBytes {
			r.buf = nil
		}
	}
	if s.idx.Size >= r.cfg.SegmentBytes || time.Since(s.created) >= r.cfg.SegmentAge {
		return r.closeSegment()
	}
	return nil
}

// closeSegment syncs the open segment (whose open block must be empty), writes its index next to it
// (through a temporary file and a rename) and syncs the directory.
func (r *Recorder) closeSegment() error {
	s := r.seg
	r.seg = nil
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r.fail(fmt.Errorf("replay: close %s: %w", s.path, err))
	}
	ipath := idxPathFor(s.path)
	if err := writeFileSync(ipath, s.idx.encode()); err != nil {
		return r.fail(err)
	}
	if err := syncDir(r.cfg.Dir); err != nil {
		return r.fail(err)
	}
	r.log.Info("replay: segment closed", slog.String("file", s.path), slog.Int64("bytes", s.idx.Size),
		slog.Int("blocks", len(s.idx.Blocks)))
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("replay: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("replay: sync %s: %w", dir, err)
	}
	return nil
}
