package feed_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/sim"
)

// simRecording returns n records of a simulated exchange, as a recording holds them.
func simRecording(t *testing.T, n int, seed int64) []engine.Record {
	t.Helper()
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: seed, ResnapshotEvery: 700})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]engine.Record, n)
	for i := range recs {
		e := x.Next()
		recs[i] = engine.Record{Offset: int64(i), Time: e.Time, Key: []byte(e.Key), Value: e.Value}
	}
	return recs
}

// simBooks returns the simulated exchange's books (as refBook.top renders them) after its first n events.
func simBooks(t *testing.T, n int, seed int64) map[string]string {
	t.Helper()
	x, _ := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: seed, ResnapshotEvery: 700})
	for range n {
		x.Next()
	}
	out := map[string]string{}
	for _, sym := range x.Symbols() {
		bids, asks := x.Book(sym)
		var sb strings.Builder
		for _, l := range bids {
			sb.WriteString(l[0] + ":" + l[1] + ";")
		}
		sb.WriteByte('|')
		for _, l := range asks {
			sb.WriteString(l[0] + ":" + l[1] + ";")
		}
		out[sym] = sb.String()
	}
	return out
}

func newReplayFeed(t *testing.T, recs []engine.Record, cfg feed.Config) *testFeed {
	t.Helper()
	mem, err := replay.NewMemory(recs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Replayer = replay.NewHistory(mem, quietLogger())
	return newTestFeed(t, cfg)
}

func (f *testFeed) dialReplay() *client {
	f.t.Helper()
	return f.dialURL(dialer(), strings.TrimSuffix(f.wsURL(), "/ws")+"/replay")
}

// untilEnd reads until replay_end and returns what came before it (heartbeats left out) and replay_end.
func (c *client) untilEnd() ([]wsMsg, wsMsg) {
	c.t.Helper()
	var out []wsMsg
	for {
		m := c.next()
		if m.Type == "replay_end" {
			return out, m
		}
		out = append(out, m)
	}
}

// A replay from a point in a recording: the first book message of each symbol is a snapshot of the book as
// the exchange had it then, every message carries the replay flag, updates chain and check, the books at
// the end are the exchange's, and the same request gives the same bytes again.
func TestReplayPlaysRecording(t *testing.T) {
	const n, cut, seed = 3000, 1000, 11
	recs := simRecording(t, n, seed)
	f := newReplayFeed(t, recs, feed.Config{})
	from := recs[cut].Time
	atFrom := simBooks(t, cut, seed)
	atEnd := simBooks(t, n, seed)
	var runs [][]string
	for run := range 2 {
		c := f.dialReplay()
		c.send(fmt.Sprintf(`{"op":"replay","id":7,"symbols":["BTC-USD","ETH-USD","SOL-USD"],"channels":["book","trades"],"from":%q,"speed":0}`, from.Format(time.RFC3339Nano)))
		started := c.expect("replay_started")
		if started.ID == nil || *started.ID != 7 || !strings.Contains(started.raw, `"from":"`+from.Format(time.RFC3339Nano)+`"`) {
			t.Fatalf("replay_started %s", started)
		}
		msgs, end := c.untilEnd()
		if !strings.Contains(end.raw, `"reason":"done"`) || end.ID == nil || *end.ID != 7 {
			t.Fatalf("replay_end %s", end)
		}
		var raws []string
		trades := 0
		for _, m := range msgs {
			raws = append(raws, m.raw)
			if !strings.HasSuffix(m.raw, `,"replay":true}`) {
				t.Fatalf("no replay flag: %s", m)
			}
			if m.Type == "trade" {
				trades++
			}
			if !m.isBook() {
				continue
			}
			if cb := c.books[m.Symbol]; cb == nil || !cb.have {
				if m.Type != "snapshot" {
					t.Fatalf("first book message of %s is %s", m.Symbol, m)
				}
				c.mustApply(m)
				if got := c.books[m.Symbol].book.top(0); got != atFrom[m.Symbol] {
					t.Fatalf("%s at from:\n got %s\nwant %s", m.Symbol, got, atFrom[m.Symbol])
				}
				continue
			}
			c.mustApply(m)
		}
		if trades == 0 {
			t.Fatal("no trade replayed")
		}
		for sym, want := range atEnd {
			if got := c.book(sym).book.top(0); got != want {
				t.Fatalf("%s at the end:\n got %s\nwant %s", sym, got, want)
			}
		}
		runs = append(runs, raws)
		t.Logf("run %d: %d messages", run, len(raws))
	}
	if strings.Join(runs[0], "\n") != strings.Join(runs[1], "\n") {
		t.Fatal("two replays of the same request differ")
	}
}

// timedRecording is one symbol, AAA: a snapshot, then a delta every step, each adding a bid level 1000+i.
func timedRecording(n int, start time.Time, step time.Duration) []engine.Record {
	recs := make([]engine.Record, n)
	for i := range recs {
		at := start.Add(time.Duration(i) * step)
		v := fmt.Sprintf(`{"type":"delta","symbol":"AAA","seq":%d,"time":%q,"bids":[["%d","1"]],"asks":[]}`, i+1, at.Format(time.RFC3339Nano), 1000+i)
		if i == 0 {
			v = fmt.Sprintf(`{"type":"snapshot","symbol":"AAA","seq":1,"time":%q,"bids":[["999","1"]],"asks":[["99999","1"]]}`, at.Format(time.RFC3339Nano))
		}
		recs[i] = engine.Record{Offset: int64(i), Time: at, Key: []byte("AAA"), Value: []byte(v)}
	}
	return recs
}

// Pause stops the messages, resume continues them, a speed change takes effect, a seek sends a snapshot of
// the book at that instant.
func TestReplayControls(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	recs := timedRecording(401, start, 10*time.Millisecond) // 4 s recorded
	f := newReplayFeed(t, recs, feed.Config{})

	c := f.dialReplay()
	c.send(`{"op":"replay","id":1,"symbols":["AAA"],"channels":["book"],"speed":1}`)
	c.expect("replay_started")
	c.nextBook()
	c.send(`{"op":"replay_control","id":2,"action":"pause"}`)
	c.send(`{"op":"ping","id":3}`)
	for m := c.next(); m.Type != "pong"; m = c.next() {
	}
	time.Sleep(300 * time.Millisecond) // a record already past the gate may still go
	c.send(`{"op":"ping","id":4}`)
	for m := c.next(); m.Type != "pong"; m = c.next() {
	}
	time.Sleep(300 * time.Millisecond)
	c.send(`{"op":"ping","id":5}`)
	if m := c.next(); m.Type != "pong" {
		t.Fatalf("paused, yet %s came", m)
	}
	c.send(`{"op":"replay_control","id":6,"action":"resume"}`)
	if m := c.next(); m.Type != "update" {
		t.Fatalf("after resume: %s", m)
	}
	c.send(`{"op":"replay_control","id":7,"action":"speed","speed":1000}`)
	t0 := time.Now()
	_, end := c.untilEnd()
	if el := time.Since(t0); el > 2*time.Second || !strings.Contains(end.raw, `"done"`) {
		t.Fatalf("the rest at speed 1000 took %v, ended with %s", el, end)
	}

	// Seek, paused: the snapshot is the book at that instant, computed here from the records.
	seekAt := start.Add(2345 * time.Millisecond) // records 0..234 are before it
	c.send(`{"op":"replay","id":10,"symbols":["AAA"],"channels":["book"],"speed":1}`)
	c.expect("replay_started")
	c.nextBook()
	c.send(`{"op":"replay_control","id":11,"action":"pause"}`)
	c.send(fmt.Sprintf(`{"op":"replay_control","id":12,"action":"seek","to":%q}`, seekAt.Format(time.RFC3339Nano)))
	var m wsMsg
	for m = c.next(); m.Type != "replay_started" || m.ID == nil || *m.ID != 12; m = c.next() {
	}
	snap := c.nextBook()
	want := "999:1;"
	for i := 1; i <= 234; i++ {
		want = fmt.Sprintf("%d:1;", 1000+i) + want
	}
	want += "|99999:1;"
	c.books = map[string]*clientBook{}
	c.mustApply(snap)
	if got := c.book("AAA").book.top(0); snap.Seq != 235 || got != want {
		t.Fatalf("snapshot after seek: seq %d, book %s\nwant seq 235, book %s", snap.Seq, got, want)
	}
	c.send(`{"op":"ping","id":13}`)
	if m := c.next(); m.Type != "pong" {
		t.Fatalf("paused across the seek, yet %s came", m)
	}
	c.send(`{"op":"replay_control","id":14,"action":"resume"}`)
	c.send(`{"op":"replay_control","id":15,"action":"speed","speed":0}`)
	msgs, end := c.untilEnd()
	for _, m := range msgs {
		if m.isBook() {
			c.mustApply(m)
		}
	}
	if cb := c.book("AAA"); cb.lastSeq != 401 || !strings.Contains(end.raw, `"done"`) || end.ID == nil || *end.ID != 10 {
		t.Fatalf("ended at seq %d with %s", cb.lastSeq, end)
	}
}

// nextBook reads the next book message, leaving out status messages (a symbol that has not appeared yet at
// from is stale until its first snapshot).
func (c *client) nextBook() wsMsg {
	c.t.Helper()
	for {
		m := c.next()
		if m.Type == "status" {
			continue
		}
		if !m.isBook() {
			c.t.Fatalf("got %s, want a book message", m)
		}
		return m
	}
}

func jsonUnmarshal(data []byte, m *wsMsg) error { return json.Unmarshal(data, m) }
