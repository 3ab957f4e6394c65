package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/depthcast/depthcast/engine"
)

// ErrNothingRecorded is returned by Range for a source that holds no record.
var ErrNothingRecorded = errors.New("replay: nothing recorded")

// Memory is a Source over records held in memory, in recorded order (by Time, ties in slice order). It is
// what tests and small tools replay; it is safe for concurrent use as long as nobody changes the records.
type Memory struct {
	recs []engine.Record
}

var _ Source = (*Memory)(nil)

// NewMemory returns a Source over recs, which must be in non-decreasing Time order. It keeps recs (no copy).
func NewMemory(recs []engine.Record) (*Memory, error) {
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.Before(recs[i-1].Time) {
			return nil, fmt.Errorf("replay: record %d at %s is before record %d at %s", i, recs[i].Time, i-1, recs[i-1].Time)
		}
	}
	return &Memory{recs: recs}, nil
}

// Range reports the times of the first and last records, or ErrNothingRecorded.
func (m *Memory) Range(ctx context.Context) (first, last time.Time, err error) {
	if len(m.recs) == 0 {
		return time.Time{}, time.Time{}, ErrNothingRecorded
	}
	return m.recs[0].Time, m.recs[len(m.recs)-1].Time, nil
}

// Open returns a cursor from the first record: applying everything before from to fresh books gives them
// as they stood at from.
func (m *Memory) Open(ctx context.Context, from time.Time) (Cursor, error) {
	return &memoryCursor{recs: m.recs}, nil
}

type memoryCursor struct {
	recs []engine.Record
	i    int
}

func (c *memoryCursor) Next(ctx context.Context) (engine.Record, error) {
	if err := ctx.Err(); err != nil {
		return engine.Record{}, err
	}
	if c.i >= len(c.recs) {
		return engine.Record{}, io.EOF
	}
	r := c.recs[c.i]
	c.i++
	return r, nil
}

func (c *memoryCursor) Close() error { return nil }
