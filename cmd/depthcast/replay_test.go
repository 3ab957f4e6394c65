package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/sim"
	"github.com/gorilla/websocket"
)

// bookStates are the books a client held after each book message: symbol -> seq -> "book checksum".
type bookStates map[string]map[uint64]string

// track reads one message of c and, for a book message, keeps the client's book after it.
func (s bookStates) track(t *testing.T, c *wsClient) wsMsg {
	t.Helper()
	m, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	if m.Type == "snapshot" || m.Type == "update" {
		if s[m.Symbol] == nil {
			s[m.Symbol] = map[uint64]string{}
		}
		s[m.Symbol][m.Seq] = fmt.Sprintf("%s %d", c.books[m.Symbol].top(0), *m.Checksum)
	}
	return m
}

func dialPath(t *testing.T, addr, path string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	conn, _, err := d.Dial("ws://"+addr+path, nil)
	if err != nil {
		t.Fatalf("dial ws://%s%s: %v", addr, path, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn, books: map[string]*localBook{}, trades: map[string]int{}}
}

// replayAll runs a replay of syms on a /replay connection at speed 0 and returns the book states and the
// raw messages (heartbeats left out) up to replay_end.
func replayAll(t *testing.T, addr string, syms []string) (bookStates, []string) {
	t.Helper()
	c := dialPath(t, addr, "/replay")
	c.send(fmt.Sprintf(`{"op":"replay","id":1,"symbols":%s,"channels":["book","trades"],"speed":0}`, mustJSON(syms)))
	states := bookStates{}
	var raws []string
	for {
		m := states.track(t, c)
		if m.Type == "heartbeat" {
			continue
		}
		raws = append(raws, m.raw)
		if m.Type == "replay_end" {
			if !strings.Contains(m.raw, `"reason":"done"`) {
				t.Fatalf("replay ended with %s", m.raw)
			}
			return states, raws
		}
		if m.Type != "replay_started" && !strings.HasSuffix(m.raw, `,"replay":true}`) {
			t.Fatalf("no replay flag: %s", m.raw)
		}
	}
}

// A live feed and its recording agree: a node reads the simulated exchange from Kafka and records what it
// reads while a client follows every book; a replay of the recording then gives, at every seq the live
// client saw, the same book and checksum, and twice the same bytes. The depthcast replay command's own
// feed ends with the exchange's books.
func TestLiveAndRecordingAgree(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 21, ResnapshotEvery: 600})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	keys, values := events(x, 300)
	produce(t, prod, keys, values)

	dir := t.TempDir()
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, FlushInterval: 50 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic, Books: engine.Config{Tap: rec}}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	live := dialWS(t, m.Addr())
	live.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	liveStates := bookStates{}
	liveUpdates := map[string]string{} // "symbol seq" -> the raw update
	for range 5 {
		keys, values = events(x, 400)
		produce(t, prod, keys, values)
	}
	deadline := time.Now().Add(waitTimeout)
	for !booksEqual(live, x) {
		if time.Now().After(deadline) {
			t.Fatal("the live client did not catch up with the exchange")
		}
		if m := liveStates.track(t, live); m.Type == "update" {
			liveUpdates[fmt.Sprint(m.Symbol, " ", m.Seq)] = m.raw
		}
	}
	m.Stop()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	recording, err := replay.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer recording.Close()
	fcfg := feed.Config{}
	fcfg.Replayer = replay.NewHistory(recording, quietLogger())
	rm := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Feed: fcfg, Input: func(pub engine.Publisher) (node.Input, error) {
		return replay.NewStream(replay.PlayerConfig{Source: recording, Publisher: pub, Logger: quietLogger()}, quietLogger()), nil
	}})
	a, rawA := replayAll(t, rm.Addr(), syms)
	_, rawB := replayAll(t, rm.Addr(), syms)
	if strings.Join(rawA, "\n") != strings.Join(rawB, "\n") {
		t.Fatal("two replays of the recording differ")
	}
	compared := 0
	for sym, seqs := range liveStates {
		for seq, want := range seqs {
			got, ok := a[sym][seq]
			if !ok {
				t.Fatalf("%s seq %d: the live feed sent it, the replay did not", sym, seq)
			}
			if got != want {
				t.Fatalf("%s seq %d:\nreplay %s\n  live %s", sym, seq, got, want)
			}
			compared++
		}
	}
	if compared < 1000 {
		t.Fatalf("only %d books compared", compared)
	}
	// After its first snapshot, the replay sends the live feed's very bytes, plus the replay flag.
	same := 0
	for _, raw := range rawA {
		var m wsMsg
		if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Type != "update" {
			continue
		}
		if l, ok := liveUpdates[fmt.Sprint(m.Symbol, " ", m.Seq)]; ok && liveStates[m.Symbol][*m.PrevSeq] != "" {
			if want := strings.TrimSuffix(l, "}") + `,"replay":true}`; raw != want {
				t.Fatalf("replayed update differs from the live one:\nreplay %s\n  live %s", raw, want)
			}
			same++
		}
	}
	if same < 1000 {
		t.Fatalf("only %d updates compared byte for byte", same)
	}
	t.Logf("%d live books equal their replay, %d updates byte for byte; %d replay messages", compared, same, len(rawA))

	// The replay command's own feed: once the player is done, /ws serves the exchange's final books.
	c := dialWS(t, rm.Addr())
	waitFor(t, "the player to finish", func() bool {
		_, body := httpGet(t, rm.Addr(), "/v1/symbols")
		return strings.Count(body, `"live"`) == len(syms) && symbolsAt(t, rm.Addr(), x)
	})
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	waitBooks(t, c, x)
}

func booksEqual(c *wsClient, x *sim.Exchange) bool {
	for _, sym := range x.Symbols() {
		b := c.books[sym]
		if b == nil || b.top(0) != exchangeBook(x.Book(sym)) {
			return false
		}
	}
	return true
}

// symbolsAt reports whether /v1/book of every symbol is the exchange's book.
func symbolsAt(t *testing.T, addr string, x *sim.Exchange) bool {
	for _, sym := range x.Symbols() {
		_, body := httpGet(t, addr, "/v1/book/"+sym)
		c := &wsClient{books: map[string]*localBook{}}
		var m wsMsg
		m.raw = body
		if err := json.Unmarshal([]byte(body), &m); err != nil || c.apply(m) != nil || c.books[sym].top(0) != exchangeBook(x.Book(sym)) {
			return false
		}
	}
	return true
}
