package main

// Helpers of the end-to-end tests: an in-process Kafka-protocol broker (kfake) written to with franz-go, a
// depthcast node reading it over TCP, and gorilla/websocket clients that keep their own books.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// Every test stops what it started: the node, the broker, the producers, the demo's simulated exchange.
// With DEPTHCAST_TEST_MAIN=1 the test binary is the depthcast command instead (main, its arguments,
// its signals): tests that need a node in a process of its own (SIGTERM, SIGSTOP) run it that way.
func TestMain(m *testing.M) {
	if os.Getenv("DEPTHCAST_TEST_MAIN") == "1" {
		main()
	}
	goleak.VerifyTestMain(m)
}

const (
	topic       = "md.events"
	waitTimeout = 30 * time.Second // generous: -race on a loaded 2-core machine; waits end when their condition holds
)

// newCluster starts a one-broker kfake cluster with md.events in 3 partitions.
func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// newProducer returns a franz-go client producing to md.events.
func newProducer(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produce writes records keyed by symbol, in order, and waits for the broker's acks.
func produce(t *testing.T, cl *kgo.Client, keys []string, values [][]byte) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i := range values {
		recs[i] = &kgo.Record{Key: []byte(keys[i]), Value: values[i]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func quietLogger() *slog.Logger { return nodetest.QuietLogger() }

// httpGet returns the status and body of GET http://addr/path.
func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, waitTimeout, what, cond)
}

// symbolsStatus returns /v1/symbols as "SYM:status" strings.
func symbolsStatus(t *testing.T, addr string) []string {
	t.Helper()
	code, body := httpGet(t, addr, "/v1/symbols")
	if code != http.StatusOK {
		t.Fatalf("/v1/symbols: %d %s", code, body)
	}
	var v struct {
		Symbols []struct{ Symbol, Status string }
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("/v1/symbols: %v: %s", err, body)
	}
	var out []string
	for _, s := range v.Symbols {
		out = append(out, s.Symbol+":"+s.Status)
	}
	return out
}

// ---- a WebSocket client with its own books ----

type wsMsg struct {
	Type     string     `json:"type"`
	Channel  string     `json:"channel"`
	Symbol   string     `json:"symbol"`
	Status   string     `json:"status"`
	Code     string     `json:"code"`
	Seq      uint64     `json:"seq"`
	PrevSeq  *uint64    `json:"prev_seq"`
	Bids     [][]string `json:"bids"`
	Asks     [][]string `json:"asks"`
	Checksum *uint32    `json:"checksum"`
	raw      string
}

// localBook is a client's book: canonical price -> canonical size, per side.
type localBook struct {
	bids, asks map[string]string
	seq        uint64
	updates    int
}

type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	books   map[string]*localBook
	trades  map[string]int
	stale   []string // symbols a status stale came for
	checked int      // book messages applied with their prev_seq and checksum verified
	// sums, when not nil, collects the checksum of every book message by symbol and seq.
	sums map[string]map[uint64]uint32
}

func dialWS(t *testing.T, addr string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	conn, _, err := d.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial ws://%s/ws: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &wsClient{t: t, conn: conn, books: map[string]*localBook{}, trades: map[string]int{}}
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads one message and applies it: book messages to the books, with the prev_seq chain and checksum
// checked; trades and statuses are counted.
func (c *wsClient) read() (wsMsg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		return wsMsg{}, err
	}
	var m wsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("not JSON: %v: %s", err, data)
	}
	m.raw = string(data)
	switch m.Type {
	case "snapshot", "update":
		return m, c.apply(m)
	case "trade":
		c.trades[m.Symbol]++
	case "status":
		if m.Status == "stale" {
			c.stale = append(c.stale, m.Symbol)
		}
	case "error":
		return m, fmt.Errorf("error reply: %s", data)
	}
	return m, nil
}

func (c *wsClient) apply(m wsMsg) error {
	b := c.books[m.Symbol]
	if m.Type == "snapshot" {
		b = &localBook{bids: map[string]string{}, asks: map[string]string{}}
		c.books[m.Symbol] = b
	} else {
		if b == nil {
			return fmt.Errorf("update before a snapshot: %s", m.raw)
		}
		if m.PrevSeq == nil || *m.PrevSeq != b.seq {
			return fmt.Errorf("gap: %s after seq %d", m.raw, b.seq)
		}
		b.updates++
	}
	for i, side := range [][][]string{m.Bids, m.Asks} {
		dst := b.bids
		if i == 1 {
			dst = b.asks
		}
		for _, l := range side {
			if len(l) != 2 {
				return fmt.Errorf("bad level %v in %s", l, m.raw)
			}
			for _, s := range l {
				if d, err := decimal.NewFromString(s); err != nil || d.String() != s {
					return fmt.Errorf("%q is not a canonical decimal in %s", s, m.raw)
				}
			}
			if l[1] == "0" {
				delete(dst, l[0])
			} else {
				dst[l[0]] = l[1]
			}
		}
	}
	b.seq = m.Seq
	if m.Checksum == nil || *m.Checksum != crc32.ChecksumIEEE([]byte(b.top(10))) {
		return fmt.Errorf("checksum of %s does not match the book %s", m.raw, b.top(10))
	}
	c.checked++
	if c.sums != nil {
		if c.sums[m.Symbol] == nil {
			c.sums[m.Symbol] = map[uint64]uint32{}
		}
		c.sums[m.Symbol][m.Seq] = *m.Checksum
	}
	return nil
}

// top renders the best n levels per side (0: all) as "price:size;…|price:size;…".
func (b *localBook) top(n int) string {
	var sb strings.Builder
	for i, side := range []map[string]string{b.bids, b.asks} {
		if i == 1 {
			sb.WriteByte('|')
		}
		prices := make([]string, 0, len(side))
		for p := range side {
			prices = append(prices, p)
		}
		slices.SortFunc(prices, func(x, y string) int {
			c := decimal.RequireFromString(x).Cmp(decimal.RequireFromString(y))
			if i == 0 {
				return -c
			}
			return c
		})
		for j, p := range prices {
			if n > 0 && j == n {
				break
			}
			sb.WriteString(p + ":" + side[p] + ";")
		}
	}
	return sb.String()
}

// exchangeBook renders a book of the simulated exchange (canonical, best first) like localBook.top(0).
func exchangeBook(bids, asks [][2]string) string {
	var sb strings.Builder
	for i, side := range [][][2]string{bids, asks} {
		if i == 1 {
			sb.WriteByte('|')
		}
		for _, l := range side {
			sb.WriteString(l[0] + ":" + l[1] + ";")
		}
	}
	return sb.String()
}

// readUntil reads until done holds, failing on any violation.
func (c *wsClient) readUntil(what string, done func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !done() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		if _, err := c.read(); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// closed is how a connection ended: its close frame, or the error without one.
type closed struct {
	code int
	text string
	err  error
}

// awaitClose reads (and discards) in the background until the connection ends, then closes the socket as a
// browser does, and reports how it ended. The client must not be read from otherwise meanwhile.
func (c *wsClient) awaitClose() <-chan closed {
	out := make(chan closed, 1)
	go func() {
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
			if _, _, err := c.conn.ReadMessage(); err != nil {
				_ = c.conn.Close()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					out <- closed{code: ce.Code, text: ce.Text}
				} else {
					out <- closed{err: err}
				}
				return
			}
		}
	}()
	return out
}

// checkClose waits for awaitClose's report and checks the close code and that a reason came with it.
func checkClose(t *testing.T, name string, ch <-chan closed, wantCode int) {
	t.Helper()
	select {
	case cl := <-ch:
		if cl.code != wantCode || cl.text == "" {
			t.Errorf("%s: connection ended with %d %q (%v), want %d with a reason", name, cl.code, cl.text, cl.err, wantCode)
		}
	case <-time.After(waitTimeout + time.Second):
		t.Errorf("%s: connection did not end", name)
	}
}
