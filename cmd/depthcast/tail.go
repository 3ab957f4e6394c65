package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/schema"
)

// tailTrades is how many recent trades the ladder shows.
const tailTrades = 8

// tailRedraw is the shortest time between two redraws of the ladder.
const tailRedraw = 100 * time.Millisecond

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "tail --url ws://HOST:PORT/ws --symbol SYMBOL [--depth 10] [--trades] [--plain]",
		"Follows one symbol's book from a depthcast feed with the Go client (prev_seq and checksum checked,\n"+
			"reconnects and resumes on its own) and shows it as a ladder redrawn in place, or with --plain as one\n"+
			"line per update: time, symbol, seq, best bid and ask, spread; and trades with --trades.", stderr)
	var lf logFlags
	lf.register(fs)
	url := fs.String("url", "ws://127.0.0.1:8080/ws", "WebSocket URL of the feed")
	symbol := fs.String("symbol", "", "symbol to follow (required)")
	depth := fs.Int("depth", 10, "levels per side, 1..1000")
	interval := fs.Int("interval-ms", 0, "at most one update per interval, 10..60000 ms (0: every update)")
	trades := fs.Bool("trades", false, "show trades too")
	plain := fs.Bool("plain", false, "one line per update instead of a ladder redrawn in place")
	stale := fs.Duration("stale-timeout", client.DefaultStaleTimeout, "reconnect when nothing arrives for this long")
	noCompression := fs.Bool("no-compression", false, "do not offer permessage-deflate")
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
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
	t := &tail{symbol: *symbol, depth: *depth, out: out, log: log, plain: *plain, state: "connected"}
	redraw := time.NewTicker(tailRedraw)
	defer redraw.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-redraw.C:
			if t.dirty {
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

	book   client.BookView
	trades []client.TradeEvent // newest last
	state  string
	dirty  bool
}

func (t *tail) handle(ev client.Event) {
	switch ev := ev.(type) {
	case client.BookEvent:
		t.book = ev.Book
		if t.plain {
			t.bookLine(ev.Book)
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
		t.state = ev.State.String()
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

// ANSI sequences of the ladder.
const (
	ansiHome  = "\x1b[H\x1b[2J" // cursor home, clear screen
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiDim   = "\x1b[2m"
	ansiReset = "\x1b[0m"
)

// drawLadder redraws the whole screen: asks above (best lowest), the spread, bids below (best first), then
// the latest trades.
func (t *tail) drawLadder() {
	t.dirty = false
	v := t.book
	var sb strings.Builder
	sb.WriteString(ansiHome)
	status := string(v.Status)
	if status == "" {
		status = "waiting for the snapshot"
	}
	fmt.Fprintf(&sb, "%s  seq %d  %s  %s  [%s]\r\n\r\n", t.symbol, v.Seq, fmtTime(v.Time), status, t.state)
	pw, sw := 12, 12
	for _, side := range [][]schema.Level{v.Bids, v.Asks} {
		for _, l := range side {
			pw, sw = max(pw, len(l.Price.String())), max(sw, len(l.Size.String()))
		}
	}
	fmt.Fprintf(&sb, "%s       %*s  %*s%s\r\n", ansiDim, pw, "PRICE", sw, "SIZE", ansiReset)
	for i := len(v.Asks) - 1; i >= 0; i-- {
		fmt.Fprintf(&sb, "%sask    %*s  %*s%s\r\n", ansiRed, pw, v.Asks[i].Price, sw, v.Asks[i].Size, ansiReset)
	}
	spread := "-"
	if s, ok := v.Spread(); ok {
		spread = s.String()
	}
	fmt.Fprintf(&sb, "%s       %*s%s\r\n", ansiDim, pw, "spread "+spread, ansiReset)
	for _, l := range v.Bids {
		fmt.Fprintf(&sb, "%sbid    %*s  %*s%s\r\n", ansiGreen, pw, l.Price, sw, l.Size, ansiReset)
	}
	if len(t.trades) > 0 {
		sb.WriteString("\r\ntrades\r\n")
		for i := len(t.trades) - 1; i >= 0; i-- {
			tr := t.trades[i]
			color := ansiGreen
			if tr.Side == "sell" {
				color = ansiRed
			}
			fmt.Fprintf(&sb, "%s%s  %-4s %*s @ %s%s\r\n", color, fmtTime(tr.Time), tr.Side, sw, tr.Size, tr.Price, ansiReset)
		}
	}
	_, _ = t.out.WriteString(sb.String())
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
