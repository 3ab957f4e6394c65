// Package enginetest holds test doubles for the engine's contracts (it imports no package of the project but
// book and schema, so that the engine's own tests can use it): a Publisher that records every call,
// builders of upstream records (the JSON of docs/protocol.md §1), and a reader of a book as one line. It is
// imported by tests only.
package enginetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// Recorder is a Publisher of the engine that logs every call as a line, with the book as it was during the call:
// "snapshot SYM SEQ bids|asks", "update SYM SEQ bids|asks", "trade SYM SEQ size@price live=BOOL",
// "status SYM live=BOOL". It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	lines []string
	// Block, when not nil, is received from in PublishBook (to stall a writer). Set it before use.
	Block chan struct{}
	// Delay, when set, slows every PublishBook down. Set it before use.
	Delay time.Duration
}

// Add records a line of the caller's own, in order with the calls.
func (r *Recorder) Add(s string) {
	r.mu.Lock()
	r.lines = append(r.lines, s)
	r.mu.Unlock()
}

// PublishBook records a snapshot or an update.
func (r *Recorder) PublishBook(b *book.Book, snapshot bool) {
	if r.Block != nil {
		<-r.Block
	}
	if r.Delay > 0 {
		time.Sleep(r.Delay)
	}
	kind := "update"
	if snapshot {
		kind = "snapshot"
	}
	r.Add(fmt.Sprintf("%s %s %d %s", kind, b.Symbol(), b.Seq(), BookString(b)))
}

// PublishTrade records a trade.
func (r *Recorder) PublishTrade(b *book.Book, e *schema.Event) {
	r.Add(fmt.Sprintf("trade %s %d %s@%s live=%v", b.Symbol(), e.Seq, e.Size, e.Price, b.Live()))
}

// PublishStatus records a status change.
func (r *Recorder) PublishStatus(b *book.Book) {
	r.Add(fmt.Sprintf("status %s live=%v", b.Symbol(), b.Live()))
}

// Lines returns the calls so far.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// For returns the calls so far for one symbol.
func (r *Recorder) For(symbol string) []string {
	var out []string
	for _, l := range r.Lines() {
		if f := strings.Fields(l); len(f) > 1 && f[1] == symbol {
			out = append(out, l)
		}
	}
	return out
}

// Discard is a Publisher of the engine that does nothing.
type Discard struct{}

func (Discard) PublishBook(*book.Book, bool)           {}
func (Discard) PublishTrade(*book.Book, *schema.Event) {}
func (Discard) PublishStatus(*book.Book)               {}

// BookString renders a book as "43000.1:2,42999:1|43000.2:1.5" (bids best first | asks best first).
func BookString(b *book.Book) string {
	side := func(s book.Side) string {
		var parts []string
		for _, l := range b.Top(s, 0, nil) {
			parts = append(parts, string(schema.AppendDecimal(nil, l.Price, b.PriceExp()))+":"+
				string(schema.AppendDecimal(nil, l.Size, b.SizeExp())))
		}
		return strings.Join(parts, ",")
	}
	return side(book.Bids) + "|" + side(book.Asks)
}

// BookOf reads symbol's book through do (a Books' Do method) as "live=BOOL seq=N bids|asks", or returns
// Do's error text.
func BookOf(do func(context.Context, string, func(*book.Book)) error, symbol string) string {
	var s string
	if err := do(context.Background(), symbol, func(b *book.Book) {
		s = fmt.Sprintf("live=%v seq=%d %s", b.Live(), b.Seq(), BookString(b))
	}); err != nil {
		return err.Error()
	}
	return s
}

// LevelsJSON renders "price:size" strings as a JSON array of levels.
func LevelsJSON(ls []string) string {
	var parts []string
	for _, l := range ls {
		p, s, _ := strings.Cut(l, ":")
		parts = append(parts, fmt.Sprintf("[%q,%q]", p, s))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// EvTime is the event time of the records the builders make.
const EvTime = "2026-11-24T10:00:00.000000001Z"

// Snap is a snapshot record; levels are "price:size" strings.
func Snap(sym string, seq uint64, bids, asks []string) string {
	return fmt.Sprintf(`{"type":"snapshot","symbol":%q,"seq":%d,"time":%q,"bids":%s,"asks":%s}`,
		sym, seq, EvTime, LevelsJSON(bids), LevelsJSON(asks))
}

// Delta is a delta record; levels are "price:size" strings (size 0 deletes).
func Delta(sym string, seq uint64, bids, asks []string) string {
	return fmt.Sprintf(`{"type":"delta","symbol":%q,"seq":%d,"time":%q,"bids":%s,"asks":%s}`,
		sym, seq, EvTime, LevelsJSON(bids), LevelsJSON(asks))
}

// Trade is a trade record.
func Trade(sym string, seq uint64, price, size string) string {
	return fmt.Sprintf(`{"type":"trade","symbol":%q,"seq":%d,"time":%q,"price":%q,"size":%q,"side":"buy","trade_id":"t-%d"}`,
		sym, seq, EvTime, price, size, seq)
}

// L lists levels: L("100:1", "99:2").
func L(ls ...string) []string { return ls }

// Stream returns the records of symbols symbols ("S00-USD", "S01-USD"...), one symbol after the other: a
// snapshot at seq 1, then deltas up to seq perSymbol.
func Stream(symbols, perSymbol int) []string {
	var out []string
	for s := range symbols {
		sym := fmt.Sprintf("S%02d-USD", s)
		out = append(out, Snap(sym, 1, L("100:1", "99:1"), L("101:1", "102:1")))
		for i := 2; i <= perSymbol; i++ {
			out = append(out, Delta(sym, uint64(i), L(fmt.Sprintf("99:%d", i)), nil))
		}
	}
	return out
}
