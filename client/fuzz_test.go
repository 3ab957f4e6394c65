package client

import (
	"io"
	"log/slog"
	"testing"

	"github.com/depthcast/depthcast/book"
)

// Nothing the feed sends can crash the client: any sequence of messages either applies, is reported as an
// error event, or resubscribes; the local book is never left crossed, and every symbol the client's own
// requests wait for is in one of them, indexed.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"type":"snapshot","channel":"book","symbol":"X","seq":10,"time":"2026-11-24T10:00:00Z","bids":[["100","1"]],"asks":[["101","2"]],"checksum":1}`,
		`{"type":"update","channel":"book","symbol":"X","seq":11,"prev_seq":10,"time":"2026-11-24T10:00:00Z","bids":[["100","0"]],"asks":[["100.5","3"]],"checksum":2}`,
		`{"type":"trade","channel":"trades","symbol":"X","seq":12,"time":"2026-11-24T10:00:00Z","price":"100.5","size":"1","side":"buy","trade_id":"t"}`,
		`{"type":"status","symbol":"X","status":"stale"}`,
		`{"type":"error","id":3,"code":"unknown_symbol","message":"no"}`,
		`{"type":"error","id":3,"code":"unauthorized","message":"no"}`,
		`{"type":"error","id":3,"symbol":"X","code":"unavailable","message":"X is not available now"}`,
		`{"type":"error","id":3,"symbol":"Y","code":"unavailable","message":"Y is not available now"}`,
		`{"type":"subscribed","id":3}`,
		`{"type":"update","symbol":"X","seq":1,"prev_seq":0,"bids":[["1e400","-1"]],"asks":[[]]}`,
		`{"type":"snapshot","symbol":"X","bids":[["101","1"]],"asks":[["100","1"]]}`,
		`[1,2]`, `{"type":5}`, ``,
	} {
		f.Add([]byte(s), []byte(`{"type":"update","channel":"book","symbol":"X","seq":11,"prev_seq":10,"bids":[],"asks":[["99","1"]],"checksum":0}`))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		c := &Client{cfg: Config{Logger: log}.WithDefaults(), log: log,
			books: map[string]*bookSub{}, trades: map[string]bool{"X": true}, pending: map[int64]chan error{},
			resubs: map[int64]*resub{}, resubOf: map[subKey]int64{}, retries: map[subKey]*retryEntry{}, retryWake: make(chan struct{}, 1)}
		c.books["X"] = &bookSub{symbol: "X", b: book.New("X"), resync: true, fresh: true}
		c.trackLocked(3, "book", []string{"X"}, 0) // a restore the feed may refuse
		for _, data := range [][]byte{a, b, a} {
			c.handle(data)
			checkResubs(t, c)
			sub := c.books["X"]
			if sub == nil {
				return // dropped after a refusal
			}
			bk := sub.b
			bid, ask := bk.Top(book.Bids, 1, nil), bk.Top(book.Asks, 1, nil)
			if len(bid) == 1 && len(ask) == 1 && bid[0].Price >= ask[0].Price {
				t.Fatalf("crossed local book after %q", data)
			}
		}
	})
}

// checkResubs fails t unless c.resubs and c.resubOf agree: each tracked symbol is in exactly one request,
// the one its index names, and no request is left without symbols.
func checkResubs(t *testing.T, c *Client) {
	t.Helper()
	n := 0
	for id, r := range c.resubs {
		if len(r.syms) == 0 {
			t.Fatalf("request %d tracked with no symbol", id)
		}
		for _, e := range r.syms {
			n++
			if got, ok := c.resubOf[subKey{r.channel, e.symbol}]; !ok || got != id {
				t.Fatalf("%s %s of request %d indexed as %d, %v", r.channel, e.symbol, id, got, ok)
			}
		}
	}
	if n != len(c.resubOf) {
		t.Fatalf("%d tracked symbols, %d indexed", n, len(c.resubOf))
	}
}
