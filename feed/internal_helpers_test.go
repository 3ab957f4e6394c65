package feed

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
)

// noBooks are Books that are not running: the internal tests drive sessions, not books.
type noBooks struct{}

func (noBooks) Do(context.Context, string, func(*book.Book)) error { return engine.ErrClosed }

// newBareServer returns a Server over an empty Hub and no books, logging nowhere.
func newBareServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := NewHub(HubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, hub, noBooks{})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
