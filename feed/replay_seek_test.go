package feed_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
)

// Speeds above 0 and below MinReplaySpeed (denormals too) are refused with bad_request, on replay and on
// replay_control alike; MinReplaySpeed itself plays.
func TestReplaySpeedMinimum(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := newReplayFeed(t, timedRecording(11, start, 10*time.Millisecond), feed.Config{MaxMalformed: 100})
	c := f.dialReplay()
	for i, sp := range []string{"1e-300", "5e-324", "0.0009", "-5e-324"} {
		c.send(fmt.Sprintf(`{"op":"replay","id":%d,"symbols":["AAA"],"speed":%s}`, i+1, sp))
		if m := c.expect("error"); m.Code != "bad_request" || !strings.Contains(m.Message, "speed") {
			t.Fatalf("speed %s: got %s, want bad_request", sp, m)
		}
	}
	c.send(fmt.Sprintf(`{"op":"replay","id":10,"symbols":["AAA"],"speed":%v}`, feed.MinReplaySpeed))
	c.expect("replay_started")
	for i, sp := range []string{"1e-300", "5e-324"} {
		id := int64(20 + i)
		c.send(fmt.Sprintf(`{"op":"replay_control","id":%d,"action":"speed","speed":%s}`, id, sp))
		c.send(`{"op":"ping","id":30}`)
		refused := false
		for m := c.next(); m.Type != "pong"; m = c.next() {
			if m.Type == "error" && m.Code == "bad_request" && m.ID != nil && *m.ID == id {
				refused = true
			}
		}
		if !refused {
			t.Fatalf("replay_control speed %s: no bad_request before the pong", sp)
		}
	}
}

// Seeks sent back to back each get their reply: replay_started with the seek's id, or, for one a later seek
// replaced before it started, replay_end "superseded" with its id. The last one starts.
func TestReplaySeeksBackToBack(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f := newReplayFeed(t, timedRecording(401, start, 10*time.Millisecond), feed.Config{})
	c := f.dialReplay()
	c.send(`{"op":"replay","id":1,"symbols":["AAA"],"channels":["book"],"speed":1}`)
	c.expect("replay_started")
	c.send(`{"op":"replay_control","id":2,"action":"pause"}`)
	const seeks = 20
	for i := range seeks {
		at := start.Add(time.Duration(100+i*10) * time.Millisecond)
		c.send(fmt.Sprintf(`{"op":"replay_control","id":%d,"action":"seek","to":%q}`, 100+i, at.Format(time.RFC3339Nano)))
	}
	answered := map[int64]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(answered) < seeks {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d seeks answered: %v", len(answered), seeks, answered)
		}
		m, err := c.recv() // heartbeats included, so that the deadline is looked at
		if err != nil {
			t.Fatal(err)
		}
		if m.ID == nil || *m.ID < 100 {
			continue
		}
		var got string
		switch {
		case m.Type == "replay_started":
			got = "started"
		case m.Type == "replay_end" && strings.Contains(m.raw, `"reason":"superseded"`):
			got = "superseded"
		default:
			t.Fatalf("got %s, want replay_started or replay_end superseded", m)
		}
		if prev, ok := answered[*m.ID]; ok {
			t.Fatalf("seek %d answered twice: %s, then %s", *m.ID, prev, got)
		}
		answered[*m.ID] = got
	}
	if answered[100+seeks-1] != "started" {
		t.Fatalf("the last seek: %s, want started", answered[100+seeks-1])
	}
	// Paused across the seeks: nothing plays after the last one's snapshot.
	c.nextBook()
	c.send(`{"op":"ping","id":7}`)
	if m := c.next(); m.Type != "pong" {
		t.Fatalf("paused, yet %s came", m)
	}
}
