package feed_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// Every request that cannot be played gets an error with its id and the code of docs/protocol.md §2; the
// connection stays usable.
func TestReplayErrors(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := newReplayFeed(t, timedRecording(101, start, 10*time.Millisecond), feed.Config{MaxMalformed: 100})
	at := func(d time.Duration) string { return start.Add(d).Format(time.RFC3339Nano) }
	c := f.dialReplay()
	// Controls before any replay.
	c.send(`{"op":"replay_control","id":1,"action":"pause"}`)
	if m := c.expect("error"); m.Code != feed.CodeBadRequest || *m.ID != 1 {
		t.Fatalf("control before a replay: %s", m)
	}
	cases := []struct {
		name, req, code string
	}{
		{"unknown op", `{"op":"subscribe","id":2,"channel":"book","symbols":["AAA"]}`, feed.CodeUnknownOp},
		{"no symbols", `{"op":"replay","id":2,"symbols":[]}`, feed.CodeBadRequest},
		{"unknown symbol", `{"op":"replay","id":2,"symbols":["AAA","ZZZ"]}`, feed.CodeUnknownSymbol},
		{"unknown channel", `{"op":"replay","id":2,"symbols":["AAA"],"channels":["candles"]}`, feed.CodeUnknownChannel},
		{"depth", `{"op":"replay","id":2,"symbols":["AAA"],"depth":5000}`, feed.CodeBadRequest},
		{"negative speed", `{"op":"replay","id":2,"symbols":["AAA"],"speed":-1}`, feed.CodeBadRequest},
		{"speed too high", `{"op":"replay","id":2,"symbols":["AAA"],"speed":1e9}`, feed.CodeBadRequest},
		{"bad time", `{"op":"replay","id":2,"symbols":["AAA"],"from":"yesterday"}`, feed.CodeBadRequest},
		{"from after to", fmt.Sprintf(`{"op":"replay","id":2,"symbols":["AAA"],"from":%q,"to":%q}`, at(500*time.Millisecond), at(100*time.Millisecond)), feed.CodeBadRequest},
		{"after the recording", fmt.Sprintf(`{"op":"replay","id":2,"symbols":["AAA"],"from":%q}`, at(time.Hour)), feed.CodeBadRequest},
		{"before the recording", fmt.Sprintf(`{"op":"replay","id":2,"symbols":["AAA"],"to":%q}`, at(-time.Hour)), feed.CodeBadRequest},
	}
	for _, tc := range cases {
		c.send(tc.req)
		m := c.expect("error")
		if m.Code != tc.code || m.ID == nil || *m.ID != 2 {
			t.Errorf("%s: got %s, want code %s", tc.name, m, tc.code)
		}
	}
	// A paused replay, then bad controls.
	c.send(fmt.Sprintf(`{"op":"replay","id":3,"symbols":["AAA"],"from":%q,"to":%q,"speed":1}`, at(200*time.Millisecond), at(500*time.Millisecond)))
	c.expect("replay_started")
	c.send(`{"op":"replay_control","id":4,"action":"pause"}`)
	controls := []struct{ name, req string }{
		{"unknown action", `{"op":"replay_control","id":5,"action":"rewind"}`},
		{"no action", `{"op":"replay_control","id":5}`},
		{"speed missing", `{"op":"replay_control","id":5,"action":"speed"}`},
		{"speed out of range", `{"op":"replay_control","id":5,"action":"speed","speed":-3}`},
		{"seek without to", `{"op":"replay_control","id":5,"action":"seek"}`},
		{"seek before from", fmt.Sprintf(`{"op":"replay_control","id":5,"action":"seek","to":%q}`, at(100*time.Millisecond))},
		{"seek after to", fmt.Sprintf(`{"op":"replay_control","id":5,"action":"seek","to":%q}`, at(600*time.Millisecond))},
	}
	for _, tc := range controls {
		c.send(tc.req)
		for {
			m := c.next()
			if m.isBook() {
				c.mustApply(m)
				continue
			}
			if m.Type == "status" {
				continue
			}
			if m.Type != "error" || m.Code != feed.CodeBadRequest || m.ID == nil || *m.ID != 5 {
				t.Errorf("%s: got %s, want a bad_request error", tc.name, m)
			}
			break
		}
	}
	c.send(`{"op":"replay_control","id":6,"action":"resume"}`)
	c.send(`{"op":"replay_control","id":7,"action":"speed","speed":0}`)
	msgs, end := c.untilEnd()
	if !strings.Contains(end.raw, `"done"`) {
		t.Fatalf("ended with %s", end)
	}
	for _, m := range msgs {
		if m.isBook() {
			c.mustApply(m)
		}
	}
	if got := c.book("AAA").lastSeq; got != 51 {
		t.Fatalf("the replay to 500 ms ended at seq %d, want 51", got)
	}
}

// At most MaxReplays run at once; a slot comes back when a replay ends or its client leaves mid-replay.
func TestReplayLimit(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := newReplayFeed(t, timedRecording(1001, start, 10*time.Millisecond), feed.Config{MaxReplays: 2})
	slow := `{"op":"replay","id":1,"symbols":["AAA"],"speed":0.5}`
	a, b := f.dialReplay(), f.dialReplay()
	a.send(slow)
	a.expect("replay_started")
	b.send(slow)
	b.expect("replay_started")
	c := f.dialReplay()
	c.send(slow)
	if m := c.expect("error"); m.Code != feed.CodeLimitExceeded {
		t.Fatalf("third replay: %s", m)
	}
	// A new replay on a connection that has one replaces it within its slot.
	a.send(`{"op":"replay","id":2,"symbols":["AAA"],"speed":0.5}`)
	for m := a.next(); m.Type != "replay_started" || *m.ID != 2; m = a.next() {
		if m.Type == "error" {
			t.Fatalf("replacing a replay: %s", m)
		}
	}
	// b leaves in the middle of its replay: its slot comes back.
	_ = b.conn.Close()
	waitFor(t, "a slot after a client left", func() bool {
		c.send(slow)
		m := c.next()
		return m.Type == "replay_started"
	})
	// A replay that ends gives its slot back too.
	d := f.dialReplay()
	a.send(`{"op":"replay","id":3,"symbols":["AAA"],"speed":0}`)
	for m := a.next(); m.Type != "replay_end"; m = a.next() {
	}
	d.send(slow)
	for m := d.next(); m.Type != "replay_started"; m = d.next() {
		if m.Type == "error" {
			t.Fatalf("after a replay ended: %s", m)
		}
	}
}

// At speed 0 a client that reads slowly gets everything, in order, without the slow-consumer close: the
// replay waits for the connection's queue, whose limit is far below what the replay sends.
func TestReplaySlowReaderSpeedZero(t *testing.T) {
	const n, seed = 20000, 5
	recs := simRecording(t, n, seed)
	f := newReplayFeed(t, recs, feed.Config{SendQueueBytes: 64 << 10, SendQueueMessages: 256})
	c := f.dialReplay()
	c.send(`{"op":"replay","id":1,"symbols":["BTC-USD","ETH-USD","SOL-USD"],"speed":0}`)
	time.Sleep(500 * time.Millisecond) // the queue fills and the replay waits
	c.expect("replay_started")
	total, bytes := 0, 0
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v", total, err)
		}
		m := wsMsg{raw: string(data)}
		if err := jsonUnmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "replay_end" {
			if !strings.Contains(m.raw, `"done"`) {
				t.Fatalf("ended with %s", m)
			}
			break
		}
		if m.isBook() {
			c.mustApply(m)
		}
		total++
		bytes += len(data)
		if total%2000 == 0 {
			time.Sleep(20 * time.Millisecond) // slow now and then
		}
	}
	for sym, want := range simBooks(t, n, seed) {
		if got := c.book(sym).book.top(0); got != want {
			t.Fatalf("%s at the end:\n got %s\nwant %s", sym, got, want)
		}
	}
	if bytes < 20*(64<<10) {
		t.Fatalf("only %d bytes replayed: the test needs far more than the queue limit", bytes)
	}
	t.Logf("%d messages, %d bytes through a 64 KiB queue", total, bytes)
}

// Shutdown closes a connection in the middle of a replay with 1001, and stops the replay (TestMain checks
// that no goroutine is left).
func TestReplayShutdown(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := newReplayFeed(t, timedRecording(1001, start, 10*time.Millisecond), feed.Config{})
	c := f.dialReplay()
	c.send(`{"op":"replay","id":1,"symbols":["AAA"],"speed":1}`)
	c.expect("replay_started")
	c.nextBook()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		done <- f.srv.Shutdown(ctx)
	}()
	if ce := c.closeError(); ce.Code != websocket.CloseGoingAway || ce.Text == "" {
		t.Fatalf("closed with %d %q, want 1001 with a reason", ce.Code, ce.Text)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A client that leaves in the middle of replays (one playing, one waiting on its full queue at speed 0,
// one still preparing a long pre-roll, one paused) leaves no goroutine behind.
func TestReplayClientLeavesMidReplay(t *testing.T) {
	recs := simRecording(t, 30000, 2)
	f := newReplayFeed(t, recs, feed.Config{SendQueueBytes: 64 << 10})
	f.dialReplay().conn.Close() // the server's goroutines for connections are up; the leak check starts here
	time.Sleep(100 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	syms := `["BTC-USD","ETH-USD","SOL-USD"]`
	playing := f.dialReplay()
	playing.send(`{"op":"replay","id":1,"symbols":` + syms + `,"speed":1}`)
	playing.expect("replay_started")
	stalled := f.dialReplay()
	stalled.send(`{"op":"replay","id":1,"symbols":` + syms + `,"speed":0}`) // never read: its queue fills
	preparing := f.dialReplay()
	preparing.send(fmt.Sprintf(`{"op":"replay","id":1,"symbols":%s,"from":%q}`, syms, recs[len(recs)-1].Time.Format(time.RFC3339Nano)))
	paused := f.dialReplay()
	paused.send(`{"op":"replay","id":1,"symbols":` + syms + `,"speed":1}`)
	paused.expect("replay_started")
	paused.send(`{"op":"replay_control","id":2,"action":"pause"}`)
	time.Sleep(200 * time.Millisecond)
	for _, c := range []*client{playing, stalled, preparing, paused} {
		_ = c.conn.Close()
	}
	goleak.VerifyNone(t, ignore)
}

// Without a Replayer there is no /replay; MaxReplays must be positive.
func TestReplayConfig(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	_, resp, err := dialer().Dial(strings.TrimSuffix(f.wsURL(), "/ws")+"/replay", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/replay without a Replayer: %v %v, want HTTP 404", err, resp)
	}
	if err := (&feed.Config{MaxReplays: -1}).Validate(); !errors.Is(err, feed.ErrConfig) {
		t.Fatalf("Validate(MaxReplays -1) = %v", err)
	}
	if err := (&feed.Config{}).Validate(); err != nil {
		t.Fatalf("Validate(defaults) = %v", err)
	}
}
