package feed_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/gorilla/websocket"
)

// stats fetches and decodes GET /v1/stats.
func stats(t *testing.T, f *testFeed) feed.Stats {
	t.Helper()
	body, h := httpGetHeader(t, f, "/v1/stats", 200)
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("/v1/stats Content-Type %q", ct)
	}
	var st feed.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/v1/stats: %v: %s", err, body)
	}
	return st
}

func closesString(cs []feed.CloseCount) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s/%d:%d", c.Reason, c.Code, c.Count))
	}
	return strings.Join(parts, " ")
}

// GET /v1/stats counts what really happened on real connections: connections opened and open,
// subscriptions, malformed requests, messages sent (the same count as the metric), and closes by reason
// and code, among them a slow consumer closed with 1013; symbols by status.
func TestStatsEndpoint(t *testing.T) {
	f := newTestFeed(t, feed.Config{SendQueueBytes: 64 << 10})
	u := newUpstream("BTC-USD")
	var bids, asks []lv
	for i := range 40 {
		bids = append(bids, lv{fmt.Sprintf("%d.12", 43000-i), "1"})
		asks = append(asks, lv{fmt.Sprintf("%d.12", 43001+i), "1"})
	}
	f.Submit(u.snapshot(bids, asks))
	eth := newUpstream("ETH-USD")
	eth.skip(41)
	f.Submit(eth.delta([]lv{{"2310", "1"}}, nil)) // known, never live
	f.Flush()

	st := stats(t, f)
	if st.Connections != 0 || st.ConnectionsOpened != 0 || len(st.Closes) != 0 || st.Subscriptions != 0 {
		t.Errorf("fresh feed: %+v, want no connections, subscriptions or closes", st)
	}
	if want := (feed.SymbolCounts{Total: 2, Live: 1, Stale: 1}); st.Symbols != want {
		t.Errorf("symbols %+v, want %+v", st.Symbols, want)
	}

	// A client that stays: two trade subscriptions (no traffic while the book moves) and one malformed request.
	keep := f.dial()
	keep.subscribe(1, "trades", []string{"BTC-USD", "ETH-USD"}, "")
	keep.send("nope")
	if m := keep.expect("error"); m.Code != "bad_request" {
		t.Fatalf("reply to a malformed request: %s", m)
	}

	// A client that leaves normally, and one that sends a binary frame (1003).
	peer := f.dial()
	_ = peer.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	if ce := peer.closeError(); ce.Code != websocket.CloseNormalClosure {
		t.Errorf("peer close answered with %d", ce.Code)
	}
	bin := f.dial()
	trySend(bin, websocket.BinaryMessage, `{"op":"ping"}`)
	if ce := bin.closeError(); ce.Code != 1003 {
		t.Errorf("binary frame: closed with %d %q, want 1003", ce.Code, ce.Text)
	}

	// A client that never reads while wide deltas flow, until the feed closes it as a slow consumer.
	slow := f.dialWith(slowDialer())
	slow.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD"]}`)
	f.wideDeltasUntil(t, u, func() bool { return stats(t, f).SlowConsumers > 0 }, nil)
	if ce := slow.closeError(); ce.Code != 1013 || !strings.Contains(ce.Text, "slow consumer") {
		t.Errorf("slow client closed with %d %q, want 1013", ce.Code, ce.Text)
	}
	waitFor(t, "one open connection left", func() bool { return stats(t, f).Connections == 1 })

	before := f.metric("depthcast.feed.messages.sent")
	st = stats(t, f)
	after := f.metric("depthcast.feed.messages.sent")
	if want := "peer/1000:1 binary_frame/1003:1 slow_consumer/1013:1"; closesString(st.Closes) != want {
		t.Errorf("closes %q, want %q", closesString(st.Closes), want)
	}
	if st.Connections != 1 || st.ConnectionsOpened != 4 || st.ConnectionsRefused != 0 {
		t.Errorf("connections %d open, %d opened, %d refused; want 1, 4, 0", st.Connections, st.ConnectionsOpened, st.ConnectionsRefused)
	}
	if st.SlowConsumers != 1 || st.MalformedRequests != 1 || st.Subscriptions != 2 {
		t.Errorf("slow consumers %d, malformed %d, subscriptions %d; want 1, 1, 2", st.SlowConsumers, st.MalformedRequests, st.Subscriptions)
	}
	if st.MessagesSent < before || st.MessagesSent > after || st.MessagesSent == 0 || st.BytesSent < st.MessagesSent {
		t.Errorf("messages sent %d (bytes %d), want a positive count between the metric's %d and %d", st.MessagesSent, st.BytesSent, before, after)
	}
	if st.UptimeSeconds <= 0 || st.Time == "" {
		t.Errorf("uptime %v, time %q", st.UptimeSeconds, st.Time)
	}
	if want := (feed.SymbolCounts{Total: 2, Live: 1, Stale: 1}); st.Symbols != want {
		t.Errorf("symbols %+v, want %+v", st.Symbols, want)
	}
}
