package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/depthcast/depthcast/engine"
	"github.com/klauspost/compress/zstd"
)

// cursor reads a Recording block by block from a start position. Not safe for concurrent use.
type cursor struct {
	r    *Recording
	pos  position // the next block to read
	dec  *zstd.Decoder
	f    *os.File
	br   *blockReader
	recs []engine.Record // of the current block
	i    int             // next in recs
	err  error           // io.EOF, damage or a read failure: returned from then on
	done bool            // closed
}

var _ Cursor = (*cursor)(nil)

func newCursor(r *Recording, start position) (*cursor, error) {
	dec, err := newDecoder()
	if err != nil {
		return nil, err
	}
	return &cursor{r: r, pos: start, dec: dec}, nil
}

// Next returns the next record in file order, io.EOF after the last, or the damage (a *FormatError naming
// the file and offset) after the last record before it. Key and Value are valid until the next call.
func (c *cursor) Next(ctx context.Context) (engine.Record, error) {
	if c.done {
		return engine.Record{}, ErrClosed
	}
	for c.i >= len(c.recs) {
		if c.err != nil {
			return engine.Record{}, c.err
		}
		if err := ctx.Err(); err != nil {
			return engine.Record{}, err
		}
		c.recs, c.i = nil, 0
		c.err = c.load()
	}
	rec := c.recs[c.i]
	c.i++
	return rec, nil
}

// Close releases the cursor's file and decoder.
func (c *cursor) Close() error {
	if c.done {
		return nil
	}
	c.done = true
	c.closeFile()
	c.dec.Close()
	return nil
}

func (c *cursor) closeFile() {
	if c.f != nil {
		_ = c.f.Close()
		c.f, c.br = nil, nil
	}
}

// load reads the next block into c.recs, moving on to the next segment at the end of one.
func (c *cursor) load() error {
	for {
		if c.pos.seg >= len(c.r.segs) {
			c.closeFile()
			return io.EOF
		}
		s := c.r.segs[c.pos.seg]
		if c.pos.blk >= len(s.idx.Blocks) {
			c.closeFile()
			if s.damage != nil {
				return s.damage
			}
			c.pos = position{c.pos.seg + 1, 0}
			continue
		}
		m := s.idx.Blocks[c.pos.blk]
		if c.f == nil {
			if err := c.openAt(s, m.Offset); err != nil {
				return err
			}
		}
		recs, err := c.br.next()
		if err == io.EOF {
			return formatErr(s.path, m.Offset, ErrTruncated, "the segment ends where its index has a block")
		}
		if err != nil {
			return err
		}
		if len(recs) != int(m.Records) || c.br.off-m.Offset != m.Size {
			return formatErr(s.path, m.Offset, ErrCorrupt, "block of %d records and %d bytes, the index says %d and %d",
				len(recs), c.br.off-m.Offset, m.Records, m.Size)
		}
		c.recs = recs
		c.pos.blk++
		return nil
	}
}

// openAt opens segment s, checks its header and positions the block reader at off.
func (c *cursor) openAt(s *segment, off int64) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("replay: %w", err)
	}
	var hb [segHeaderSize]byte
	n, err := io.ReadFull(f, hb[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
		_ = f.Close()
		return fmt.Errorf("replay: read %s: %w", s.path, err)
	}
	if _, err := parseSegHeader(s.path, hb[:n]); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		_ = f.Close()
		return fmt.Errorf("replay: seek %s: %w", s.path, err)
	}
	c.f = f
	c.br = &blockReader{name: s.path, r: bufio.NewReaderSize(f, 1<<16), off: off, size: fi.Size(), dec: c.dec}
	return nil
}
