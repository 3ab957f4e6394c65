package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/depthcast/depthcast/client"
)

// tailTrades is how many recent trades the ladder shows.
const tailTrades = 8

// tailRedraw is the shortest time between two redraws of the ladder.
const tailRedraw = 100 * time.Millisecond

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "tail --url ws://HOST:PORT/ws --symbol SYMBOL [--depth 10] [--trades] [--plain [--changes-only]] [--token TOKEN]",
		"Follows one symbol's book from a depthcast feed with the Go client (prev_seq and checksum checked,\n"+
			"reconnects and resumes on its own) and shows it as a ladder redrawn in place (price, size and\n"+
			"cumulative size aligned on the decimal point, mid, spread in bps, changed sizes highlighted), or with\n"+
			"--plain as one line per update: time, symbol, seq, best bid and ask, spread; and trades with --trades.\n"+
			"Logs go to stderr.", stderr)
	var lf logFlags
	lf.register(fs)
	url := fs.String("url", "ws://127.0.0.1:8080/ws", "WebSocket URL of the feed")
	symbol := fs.String("symbol", "", "symbol to follow (required)")
	depth := fs.Int("depth", 10, "levels per side, 1..1000")
	interval := fs.Int("interval-ms", 0, "at most one update per interval, 10..60000 ms (0: every update)")
	trades := fs.Bool("trades", false, "show trades too")
	plain := fs.Bool("plain", false, "one line per update instead of a ladder redrawn in place")
	changesOnly := fs.Bool("changes-only", false, "with --plain: a book line only when the best bid or ask (price or size) changes")
	token := fs.String("token", "", "API key or JWT sent as Authorization: Bearer TOKEN (prefer the environment variable)")
	stale := fs.Duration("stale-timeout", client.DefaultStaleTimeout, "reconnect when nothing arrives for this long")
	noCompression := fs.Bool("no-compression", false, "do not offer permessage-deflate")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if *changesOnly && !*plain {
		return usageError{errors.New("--changes-only needs --plain")}
	}
	if *symbol == "" {
		return usageError{errors.New("--symbol is required")}
	}
	opts := client.BookOptions{Depth: *depth, IntervalMS: *interval}
	if *depth < 1 {
		return usageError{fmt.Errorf("--depth %d: want 1..%d", *depth, client.MaxDepth)}
	}
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	cfg := client.Config{StaleTimeout: *stale, DisableCompression: *noCompression, ViewDepth: *depth, Logger: log}
	if *token != "" {
		cfg.Header = http.Header{"Authorization": {"Bearer " + *token}}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}

	c, err := client.Dial(ctx, *url, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	// The replies are read by the goroutine that fills Events, which nobody reads yet: bound the wait.
	sctx, cancel := context.WithTimeout(ctx, cfg.WithDefaults().HandshakeTimeout)
	defer cancel()
	if err := c.SubscribeBook(sctx, opts, *symbol); err != nil {
		return subscribeErr(ctx, err)
	}
	if *trades {
		if err := c.SubscribeTrades(sctx, *symbol); err != nil {
			return subscribeErr(ctx, err)
		}
	}
	cancel()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	t := &tail{symbol: *symbol, depth: *depth, out: out, log: log, plain: *plain, changesOnly: *changesOnly,
		color: true, conn: client.StateEvent{State: client.StateConnected}, now: time.Now}
	redraw := time.NewTicker(tailRedraw)
	defer redraw.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-redraw.C:
			if t.dirty || t.conn.State != client.StateConnected && !t.plain {
				t.drawLadder()
				_ = out.Flush()
			}
		case ev, ok := <-c.Events():
			if !ok {
				return c.Err()
			}
			t.handle(ev)
			if t.plain && len(c.Events()) == 0 {
				_ = out.Flush() // line by line for pipes, batched while events are waiting
			}
		}
	}
}

func subscribeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("subscribe: %w", err)
}

// tail turns client events into the terminal output of the tail command.
type tail struct {
	symbol string
	depth  int
	out    *bufio.Writer
	log    *slog.Logger
	plain  bool
	// changesOnly: in plain mode, a book line only when the best bid or ask changes.
	changesOnly bool
	color       bool
	now         func() time.Time

	book    client.BookView
	drawn   client.BookView     // the book of the last frame drawn, for highlighting changes
	lastTop string              // best bid and ask of the last plain line
	trades  []client.TradeEvent // newest last
	conn    client.StateEvent
	lostAt  time.Time
	dirty   bool
}

func (t *tail) handle(ev client.Event) {
	switch ev := ev.(type) {
	case client.BookEvent:
		t.book = ev.Book
		if t.plain {
			top := bestTop(ev.Book)
			if !t.changesOnly || top != t.lastTop {
				t.bookLine(ev.Book)
			}
			t.lastTop = top
		}
	case client.TradeEvent:
		t.trades = append(t.trades, ev)
		if len(t.trades) > tailTrades {
			t.trades = t.trades[len(t.trades)-tailTrades:]
		}
		if t.plain {
			fmt.Fprintf(t.out, "%s %s trade seq=%d %s %s@%s id=%s\n", fmtTime(ev.Time), ev.Symbol, ev.Seq, ev.Side, ev.Size, ev.Price, ev.TradeID)
		}
	case client.StatusEvent:
		t.book.Status = ev.Status
		if t.plain {
			fmt.Fprintf(t.out, "%s %s status=%s\n", fmtTime(time.Now()), ev.Symbol, ev.Status)
		}
		if ev.Err != nil {
			t.log.Warn("resynchronizing the book", "symbol", ev.Symbol, "err", ev.Err)
		}
	case client.StateEvent:
		t.conn = ev
		if ev.State == client.StateConnected {
			t.lostAt = time.Time{}
		} else if t.lostAt.IsZero() {
			t.lostAt = t.now()
		}
		if t.plain && ev.State != client.StateConnecting {
			fmt.Fprintf(t.out, "%s %s connection=%s\n", fmtTime(t.now()), t.symbol, connWord(ev.State))
		}
		switch ev.State {
		case client.StateWaiting:
			t.log.Warn("connection lost; reconnecting", "in", ev.Delay, "attempt", ev.Attempt, "err", ev.Err)
		case client.StateConnected:
			t.log.Info("connected")
		}
	case client.ErrorEvent:
		t.log.Warn("feed error", "symbol", ev.Symbol, "err", ev.Err)
	}
	t.dirty = !t.plain
}

// bookLine writes one line per book update: time, symbol, seq, best bid and ask (price x size), spread.
func (t *tail) bookLine(v client.BookView) {
	bid, ask, spread := "-", "-", "-"
	if l, ok := v.BestBid(); ok {
		bid = l.Price.String() + "x" + l.Size.String()
	}
	if l, ok := v.BestAsk(); ok {
		ask = l.Price.String() + "x" + l.Size.String()
	}
	if s, ok := v.Spread(); ok {
		spread = s.String()
	}
	fmt.Fprintf(t.out, "%s %s seq=%d bid=%s ask=%s spread=%s\n", fmtTime(v.Time), v.Symbol, v.Seq, bid, ask, spread)
}

// connWord names a connection state in the plain output: connected or disconnected.
func connWord(s client.State) string {
	if s == client.StateConnected {
		return "connected"
	}
	return "disconnected"
}

// bestTop is the best bid and ask, price and size, as one comparable string.
func bestTop(v client.BookView) string {
	var b strings.Builder
	if l, ok := v.BestBid(); ok {
		b.WriteString(l.Price.String() + "x" + l.Size.String())
	}
	b.WriteByte('|')
	if l, ok := v.BestAsk(); ok {
		b.WriteString(l.Price.String() + "x" + l.Size.String())
	}
	return b.String()
}

// drawLadder redraws the whole screen from the current state (see formatLadder).
func (t *tail) drawLadder() {
	t.dirty = false
	f := ladderFrame{Symbol: t.symbol, Conn: t.conn, Now: t.now(), LostAt: t.lostAt, Book: t.book, Prev: t.drawn,
		Trades: t.trades, Color: t.color}
	t.drawn = t.book
	text := formatLadder(f)
	_, _ = t.out.WriteString(ansiHome + strings.ReplaceAll(text, "\n", "\x1b[K\r\n"))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
