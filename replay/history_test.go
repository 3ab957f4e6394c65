package replay_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/replay"
)

// A History answers the feed's Replayer: the range and symbols of its source, and a prepared Player per
// replay; a request it cannot play is the client's fault (feed.ErrReplayRequest).
func TestHistory(t *testing.T) {
	recs, x := simRecords(t, 1500, 3)
	src, err := replay.NewMemory(recs)
	if err != nil {
		t.Fatal(err)
	}
	h := replay.NewHistory(src, quiet())
	ctx := context.Background()
	first, last, err := h.Range(ctx)
	if err != nil || !first.Equal(recs[0].Time) || !last.Equal(recs[len(recs)-1].Time) {
		t.Fatalf("Range = %v, %v, %v; want the first and last record times", first, last, err)
	}
	syms, err := h.Symbols(ctx)
	if err != nil || !slices.Equal(syms, x.Symbols()) {
		t.Fatalf("Symbols = %v, %v; want %v", syms, err, x.Symbols())
	}
	pub := &log{}
	run, err := h.Prepare(ctx, feed.ReplayParams{From: recs[1000].Time, Speed: 0}, pub)
	if err != nil {
		t.Fatal(err)
	}
	// Prepared: the books stand as they did at From, before Run plays the rest.
	var seq uint64
	if err := run.Do(ctx, string(recs[0].Key), func(b *book.Book) { seq = b.Seq() }); err != nil || seq == 0 {
		t.Errorf("Do on a prepared run: seq %d, %v", seq, err)
	}
	if err := run.Run(ctx); err != nil {
		t.Fatal(err)
	}
	run.Close()
	if len(pub.Lines()) == 0 {
		t.Error("nothing published")
	}
	for _, p := range []feed.ReplayParams{
		{Speed: feed.MaxReplaySpeed * 2},
		{Speed: feed.MinReplaySpeed / 2},
		{From: recs[10].Time, To: recs[5].Time},
	} {
		if _, err := h.Prepare(ctx, p, &log{}); !errors.Is(err, feed.ErrReplayRequest) {
			t.Errorf("Prepare(%+v) = %v, want feed.ErrReplayRequest", p, err)
		}
	}
}

// A Dir is read afresh at every call: a recording that grows shows its new range and symbols.
func TestDirGrows(t *testing.T) {
	dir := t.TempDir()
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quiet(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	recs, _ := simRecords(t, 400, 5)
	d := replay.Dir{Path: dir, Logger: quiet()}
	h := replay.NewHistory(d, quiet())
	ctx := context.Background()
	lastOf := func() time.Time {
		t.Helper()
		_, last, err := h.Range(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	write := func(rs []engine.Record) {
		t.Helper()
		for _, r := range rs {
			if err := rec.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := rec.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(recs[:200])
	if got := lastOf(); !got.Equal(recs[199].Time) {
		t.Fatalf("last %v, want %v", got, recs[199].Time)
	}
	write(recs[200:])
	if got := lastOf(); !got.Equal(recs[399].Time) {
		t.Fatalf("after more records: last %v, want %v", got, recs[399].Time)
	}
	syms, err := h.Symbols(ctx)
	if err != nil || len(syms) == 0 {
		t.Fatalf("Symbols = %v, %v", syms, err)
	}
	if got := readAll(t, d, time.Time{}); len(got) != len(recs) {
		t.Errorf("Open read %d records, want %d", len(got), len(recs))
	}
}

// A Stream is a node's input: not ready and without books before it plays, then it plays the recording
// once and keeps the books as they ended (those of the same records submitted to fresh books) until its
// context ends.
func TestStream(t *testing.T) {
	recs, x := simRecords(t, 800, 9)
	src, err := replay.NewMemory(recs)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := engine.New(engine.Config{Shards: 1, Logger: quiet()}, enginetest.Discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, r := range recs {
		if err := ref.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ref.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	s := replay.NewStream(replay.PlayerConfig{Source: src, Publisher: &log{}, Speed: 0, Logger: quiet()}, quiet())
	if s.Ready() {
		t.Error("ready before Run")
	}
	if err := s.Do(ctx, string(recs[0].Key), func(*book.Book) {}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Do before Run = %v, want engine.ErrClosed", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, sym := range x.Symbols() {
		want := enginetest.BookOf(ref.Do, sym)
		deadline := time.Now().Add(20 * time.Second)
		for got := enginetest.BookOf(s.Do, sym); got != want; got = enginetest.BookOf(s.Do, sym) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the stream's book is %q, want %q", sym, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !s.Ready() {
		t.Error("not ready while serving the books")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.Ready() {
		t.Error("ready after Run returned")
	}
}
