package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/schema"
	"github.com/depthcast/depthcast/sim"
)

// simRecords returns n records of the simulated exchange with the given seed, as a recording holds them,
// and the exchange's books after each record (bookAt[i] is every symbol's book after records[:i+1]).
func simRecords(t testing.TB, n int, seed int64) ([]engine.Record, *sim.Exchange) {
	t.Helper()
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 10, Seed: seed, ResnapshotEvery: 400})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]engine.Record, n)
	for i := range recs {
		e := x.Next()
		recs[i] = engine.Record{Partition: 0, Offset: int64(i), Time: e.Time, Key: []byte(e.Key), Value: e.Value}
	}
	return recs, x
}

// log is a Publisher that logs every call with the book as it was.
type log struct {
	mu    sync.Mutex
	lines []string
}

func (l *log) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

func (l *log) PublishBook(b *book.Book, snapshot bool) {
	l.add(fmt.Sprintf("book %s %d %v %s", b.Symbol(), b.Seq(), snapshot, bookString(b)))
}
func (l *log) PublishTrade(b *book.Book, e *schema.Event) {
	l.add(fmt.Sprintf("trade %s %d", e.Symbol, e.Seq))
}
func (l *log) PublishStatus(b *book.Book) { l.add(fmt.Sprintf("status %s %v", b.Symbol(), b.Live())) }

func (l *log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func bookString(b *book.Book) string {
	var sb strings.Builder
	for _, s := range []book.Side{book.Bids, book.Asks} {
		for _, lv := range b.Top(s, 0, nil) {
			sb.WriteString(dec(lv.Price, b.PriceExp()) + ":" + dec(lv.Size, b.SizeExp()) + ",")
		}
		sb.WriteString("|")
	}
	return sb.String()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newPlayer(t *testing.T, cfg replay.PlayerConfig) *replay.Player {
	t.Helper()
	cfg.Logger = quiet()
	p, err := replay.NewPlayer(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// The books at From are those of the exchange after the records before From, and Run plays the rest, in
// recorded order, the same way every time.
func TestPlayerPrerollAndDeterminism(t *testing.T) {
	recs, _ := simRecords(t, 2000, 7)
	src, err := replay.NewMemory(recs)
	if err != nil {
		t.Fatal(err)
	}
	cut := 1234
	from := recs[cut].Time
	for recs[cut-1].Time.Equal(from) {
		cut--
	}
	// The exchange's own books after the records before from: a second exchange with the same seed.
	x2, _ := sim.New(sim.Config{Symbols: 3, Levels: 10, Seed: 7, ResnapshotEvery: 400})
	for range cut {
		x2.Next()
	}
	var runs [][]string
	for range 2 {
		l := &log{}
		p := newPlayer(t, replay.PlayerConfig{Source: src, From: from, Speed: 0, Publisher: l})
		prerolled := len(l.Lines())
		for _, sym := range x2.Symbols() {
			wantBids, wantAsks := x2.Book(sym)
			var gotBids, gotAsks [][2]string
			if err := p.Do(context.Background(), sym, func(b *book.Book) {
				for _, lv := range b.Top(book.Bids, 0, nil) {
					gotBids = append(gotBids, [2]string{dec(lv.Price, b.PriceExp()), dec(lv.Size, b.SizeExp())})
				}
				for _, lv := range b.Top(book.Asks, 0, nil) {
					gotAsks = append(gotAsks, [2]string{dec(lv.Price, b.PriceExp()), dec(lv.Size, b.SizeExp())})
				}
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(gotBids, gotAsks) != fmt.Sprint(wantBids, wantAsks) {
				t.Fatalf("%s at from:\n got %v %v\nwant %v %v", sym, gotBids, gotAsks, wantBids, wantAsks)
			}
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		lines := l.Lines()
		if len(lines) <= prerolled {
			t.Fatal("nothing played after from")
		}
		runs = append(runs, lines[prerolled:])
	}
	if strings.Join(runs[0], "\n") != strings.Join(runs[1], "\n") {
		t.Fatal("two plays of one recording differ")
	}
}

// timed returns records of one symbol: a snapshot, then deltas every step.
func timed(n int, start time.Time, step time.Duration) []engine.Record {
	recs := make([]engine.Record, n)
	for i := range recs {
		at := start.Add(time.Duration(i) * step)
		v := fmt.Sprintf(`{"type":"delta","symbol":"AAA","seq":%d,"time":%q,"bids":[["%d","1"]],"asks":[]}`, i+1, at.Format(time.RFC3339Nano), 100+i%5)
		if i == 0 {
			v = fmt.Sprintf(`{"type":"snapshot","symbol":"AAA","seq":1,"time":%q,"bids":[["99","1"]],"asks":[["200","1"]]}`, at.Format(time.RFC3339Nano))
		}
		recs[i] = engine.Record{Offset: int64(i), Time: at, Key: []byte("AAA"), Value: []byte(v)}
	}
	return recs
}

// Pacing follows the records' times at the speed factor; To bounds what is played.
func TestPlayerPacing(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	src, _ := replay.NewMemory(timed(41, start, 10*time.Millisecond)) // 400 ms recorded
	cases := []struct {
		speed    float64
		from, to time.Time
		min, max time.Duration
		played   int
	}{
		{speed: 1, min: 380 * time.Millisecond, max: 5 * time.Second, played: 41},
		{speed: 1, from: start.Add(-time.Hour), min: 380 * time.Millisecond, max: 5 * time.Second, played: 41},
		{speed: 1, from: start.Add(95 * time.Millisecond), min: 280 * time.Millisecond, max: 5 * time.Second, played: 31},
		{speed: 10, min: 35 * time.Millisecond, max: 350 * time.Millisecond, played: 41},
		{speed: 0, max: 300 * time.Millisecond, played: 41},
		{speed: 0, to: start.Add(195 * time.Millisecond), max: 300 * time.Millisecond, played: 20},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.speed, c.from.IsZero(), c.to.IsZero()), func(t *testing.T) {
			l := &log{}
			p := newPlayer(t, replay.PlayerConfig{Source: src, From: c.from, To: c.to, Speed: c.speed, Publisher: l})
			prerolled := len(l.Lines())
			t0 := time.Now()
			if err := p.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			el := time.Since(t0)
			if el < c.min || el > c.max {
				t.Errorf("took %v, want %v..%v", el, c.min, c.max)
			}
			books := 0
			for _, ln := range l.Lines()[prerolled:] {
				if strings.HasPrefix(ln, "book ") {
					books++
				}
			}
			if books != c.played {
				t.Errorf("played %d records, want %d", books, c.played)
			}
		})
	}
}

// Pause holds playback until Resume; a speed change takes effect at once; cancelling Run stops it.
func TestPlayerControls(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	src, _ := replay.NewMemory(timed(201, start, 10*time.Millisecond)) // 2 s recorded
	l := &log{}
	p := newPlayer(t, replay.PlayerConfig{Source: src, Speed: 1, Publisher: l})
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	p.Pause()
	time.Sleep(50 * time.Millisecond)
	n := len(l.Lines())
	time.Sleep(300 * time.Millisecond)
	if m := len(l.Lines()); m != n {
		t.Fatalf("paused, yet %d calls went on", m-n)
	}
	if n == 0 || n > 100 {
		t.Fatalf("%d calls in 100 ms at speed 1", n)
	}
	if err := p.SetSpeed(-1); !errors.Is(err, feed.ErrReplayRequest) {
		t.Fatalf("SetSpeed(-1) = %v", err)
	}
	if err := p.SetSpeed(100); err != nil {
		t.Fatal(err)
	}
	p.Resume()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(1500 * time.Millisecond):
		t.Fatal("at speed 100 the last 1.9 s recorded took more than 1.5 s")
	}

	// Cancel a slow run.
	p2 := newPlayer(t, replay.PlayerConfig{Source: src, Speed: 0.01, Publisher: &log{}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p2.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the context's error", err)
	}
}

// Wait holds playback at speed 0 until the consumer is ready, and its error stops playback.
func TestPlayerWait(t *testing.T) {
	recs, _ := simRecords(t, 300, 3)
	src, _ := replay.NewMemory(recs)
	var calls int
	stop := errors.New("consumer gone")
	p := newPlayer(t, replay.PlayerConfig{Source: src, Publisher: &log{}, Wait: func(ctx context.Context) error {
		calls++
		if calls == 100 {
			return stop
		}
		return nil
	}})
	if err := p.Run(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("Run = %v, want the Wait error", err)
	}
}

func TestPlayerConfigErrors(t *testing.T) {
	src, _ := replay.NewMemory(timed(3, time.Now(), time.Millisecond))
	now := time.Now()
	for _, c := range []replay.PlayerConfig{
		{Publisher: &log{}},
		{Source: src},
		{Source: src, Publisher: &log{}, Speed: -1},
		{Source: src, Publisher: &log{}, Speed: feed.MaxReplaySpeed + 1},
		// Above 0 but below feed.MinReplaySpeed: denormals included, which would otherwise play with no pacing.
		{Source: src, Publisher: &log{}, Speed: 1e-300},
		{Source: src, Publisher: &log{}, Speed: 5e-324},
		{Source: src, Publisher: &log{}, Speed: feed.MinReplaySpeed / 2},
		{Source: src, Publisher: &log{}, From: now, To: now.Add(-time.Second)},
	} {
		if _, err := replay.NewPlayer(context.Background(), c); err == nil {
			t.Errorf("NewPlayer(%+v) accepted", c)
		}
	}
	p, err := replay.NewPlayer(context.Background(), replay.PlayerConfig{Source: src, Publisher: &log{}, Speed: feed.MinReplaySpeed})
	if err != nil {
		t.Fatalf("NewPlayer at feed.MinReplaySpeed: %v", err)
	}
	defer p.Close()
	for _, v := range []float64{1e-300, 5e-324, -5e-324} {
		if err := p.SetSpeed(v); !errors.Is(err, feed.ErrReplayRequest) {
			t.Errorf("SetSpeed(%v): %v, want feed.ErrReplayRequest", v, err)
		}
	}
	if _, err := replay.NewMemory([]engine.Record{{Time: now}, {Time: now.Add(-1)}}); err == nil {
		t.Error("NewMemory accepted records out of order")
	}
}

func dec(v int64, exp uint8) string { return string(schema.AppendDecimal(nil, v, exp)) }
