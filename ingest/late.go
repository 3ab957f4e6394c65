package ingest

import (
	"context"
	"sync/atomic"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
)

// LateBooks is a Books whose source is set after it is made, so that the feed, which needs its Books when
// it is created, can exist before the Pipeline or Consumer that publishes into it. Until Set, Do returns
// ErrClosed. The zero value is ready to use; LateBooks is safe for concurrent use.
type LateBooks struct {
	src atomic.Pointer[booksRef]
}

type booksRef struct{ engine.Books }

// Set makes b the source of every later Do.
func (l *LateBooks) Set(b engine.Books) { l.src.Store(&booksRef{b}) }

// Source returns the source set last, or nil.
func (l *LateBooks) Source() engine.Books {
	if r := l.src.Load(); r != nil {
		return r.Books
	}
	return nil
}

// Do runs fn on symbol's book through the source, or returns ErrClosed when none is set yet.
func (l *LateBooks) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	r := l.src.Load()
	if r == nil {
		return engine.ErrClosed
	}
	return r.Do(ctx, symbol, fn)
}

var _ engine.Books = (*LateBooks)(nil)
