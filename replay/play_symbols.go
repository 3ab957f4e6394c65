package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Symbols lists the distinct symbols (record keys) src holds, sorted. It reads the whole source.
func Symbols(ctx context.Context, src Source) ([]string, error) {
	cur, err := src.Open(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("replay: open: %w", err)
	}
	defer cur.Close()
	seen := map[string]struct{}{}
	for {
		rec, err := cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("replay: read: %w", err)
		}
		if _, ok := seen[string(rec.Key)]; !ok && len(rec.Key) > 0 {
			seen[string(rec.Key)] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// RecordingSymbols lists the symbols with valid events in r, sorted, from its segment indexes (no data is
// read).
func RecordingSymbols(r *Recording) []string {
	seen := map[string]struct{}{}
	for _, s := range r.segs {
		for _, b := range s.idx.Blocks {
			for _, ref := range b.Syms {
				if int(ref.ID) < len(s.idx.Syms) {
					seen[s.idx.Syms[ref.ID]] = struct{}{}
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for sym := range seen {
		out = append(out, sym)
	}
	slices.Sort(out)
	return out
}

// Library is a Source that also answers which symbols it holds, reading the source again only when its
// Range has changed since the last answer and that answer is older than MaxAge. It is safe for concurrent
// use.
type Library struct {
	Source
	// MaxAge is how long a list of symbols is kept for a source that keeps growing (a topic, a recording
	// being written): a symbol that first appeared since may be missing from it for that long. Zero: the
	// source is read again whenever its range changed. Set it before the first call.
	MaxAge time.Duration

	mu          sync.Mutex
	first, last time.Time
	at          time.Time
	symbols     []string
}

// NewLibrary returns a Library over src.
func NewLibrary(src Source) *Library { return &Library{Source: src} }

// Symbols lists the symbols the source holds, sorted: from the source's own Symbols method when it has one
// (a *Recording or a Dir: their indexes; Kafka: none), else by reading the source.
func (l *Library) Symbols(ctx context.Context) ([]string, error) {
	if sl, ok := l.Source.(interface {
		Symbols(context.Context) ([]string, error)
	}); ok {
		return sl.Symbols(ctx)
	}
	first, last, err := l.Range(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.symbols != nil && (first.Equal(l.first) && last.Equal(l.last) || time.Since(l.at) < l.MaxAge) {
		return l.symbols, nil
	}
	syms, err := Symbols(ctx, l.Source)
	if err != nil {
		return nil, err
	}
	l.first, l.last, l.symbols, l.at = first, last, syms, time.Now()
	return syms, nil
}
