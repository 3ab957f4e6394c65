package replay

import (
	"context"
	"time"

	"github.com/depthcast/depthcast/engine"
)

// Source is recorded history that replays read. Implementations are safe for concurrent use: each replay
// opens its own Cursor.
type Source interface {
	// Range reports the times of the first and last records the source holds.
	Range(ctx context.Context) (first, last time.Time, err error)
	// Open returns a cursor over the records in recorded order. The cursor starts early enough that
	// applying its records to fresh books, from the first one up to from, gives every book exactly as it
	// stood at from: it may start at the very beginning, or at any point from which every symbol's last
	// snapshot before from is still ahead. Records at or after from follow in order until the end of the
	// source.
	Open(ctx context.Context, from time.Time) (Cursor, error)
}

// Cursor reads records from a Source. A Cursor is not safe for concurrent use.
type Cursor interface {
	// Next returns the next record, or io.EOF after the last. The record's Key and Value are valid until
	// the next call to Next. A cursor over damaged data returns every record before the damage and then
	// an error naming the file and offset.
	Next(ctx context.Context) (engine.Record, error)
	// Close releases the cursor's resources.
	Close() error
}
