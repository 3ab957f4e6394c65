package feed_test

// The tests' WebSocket client: gorilla/websocket connections that keep their own books and check every book
// message (order, prev_seq, checksum) independently of the project's code.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
)

// wsMsg is any message of the feed.
type wsMsg struct {
	Type       string     `json:"type"`
	ID         *int64     `json:"id"`
	Channel    string     `json:"channel"`
	Symbol     string     `json:"symbol"`
	Symbols    []string   `json:"symbols"`
	Depth      *int       `json:"depth"`
	IntervalMS *int       `json:"interval_ms"`
	Seq        uint64     `json:"seq"`
	PrevSeq    *uint64    `json:"prev_seq"`
	Time       string     `json:"time"`
	Bids       [][]string `json:"bids"`
	Asks       [][]string `json:"asks"`
	Checksum   *uint32    `json:"checksum"`
	Price      string     `json:"price"`
	Size       string     `json:"size"`
	Side       string     `json:"side"`
	TradeID    string     `json:"trade_id"`
	Status     string     `json:"status"`
	Code       string     `json:"code"`
	Message    string     `json:"message"`

	raw string
}

func (m wsMsg) String() string { return m.raw }

func (m wsMsg) isBook() bool { return m.Type == "snapshot" || m.Type == "update" }

// client is a gorilla/websocket connection to the feed. Its methods that take no *testing.T may be used
// from any one goroutine; the others only from the test's.
type client struct {
	t     *testing.T
	conn  *websocket.Conn
	books map[string]*clientBook
	depth int
}

// clientBook is a client's copy of one symbol's book, built from the messages of one subscription.
type clientBook struct {
	book    *refBook
	have    bool
	lastSeq uint64
	snaps   int
	updates int
}

func dialer() *websocket.Dialer { return &websocket.Dialer{HandshakeTimeout: waitTimeout} }

func (f *testFeed) dial() *client {
	f.t.Helper()
	return f.dialWith(dialer())
}

func (f *testFeed) dialWith(d *websocket.Dialer) *client {
	f.t.Helper()
	return f.dialURL(d, f.wsURL())
}

// dialURL opens a client connection to url with d; it is closed when the test ends.
func (f *testFeed) dialURL(d *websocket.Dialer, url string) *client {
	f.t.Helper()
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			f.t.Fatalf("dial: %v (HTTP %d)", err, resp.StatusCode)
		}
		f.t.Fatalf("dial: %v", err)
	}
	c := &client{t: f.t, conn: conn, books: map[string]*clientBook{}}
	f.t.Cleanup(func() { _ = conn.Close() })
	return c
}

// send writes one text message.
func (c *client) send(msg string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("write %s: %v", msg, err)
	}
}

// recv reads the next message, heartbeats included.
func (c *client) recv() (wsMsg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	typ, data, err := c.conn.ReadMessage()
	if err != nil {
		return wsMsg{}, err
	}
	if typ != websocket.TextMessage {
		return wsMsg{}, fmt.Errorf("got a frame of type %d, want text", typ)
	}
	var m wsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return wsMsg{}, fmt.Errorf("message is not JSON: %v: %.200s", err, data)
	}
	m.raw = string(data)
	return m, nil
}

// next reads the next message that is not a heartbeat.
func (c *client) next() wsMsg {
	c.t.Helper()
	for {
		m, err := c.recv()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if m.Type != "heartbeat" {
			return m
		}
	}
}

// expect reads the next message that is not a heartbeat and checks its type.
func (c *client) expect(typ string) wsMsg {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %s, want a %q message", m, typ)
	}
	return m
}

// subscribe sends a subscribe request and checks its "subscribed" reply.
func (c *client) subscribe(id int, channel string, symbols []string, extra string) {
	c.t.Helper()
	syms, _ := json.Marshal(symbols)
	c.send(fmt.Sprintf(`{"op":"subscribe","id":%d,"channel":%q,"symbols":%s%s}`, id, channel, syms, extra))
	m := c.expect("subscribed")
	if m.ID == nil || *m.ID != int64(id) || m.Channel != channel || !slices.Equal(m.Symbols, symbols) {
		c.t.Fatalf("subscribed reply %s does not match the request (id %d, channel %s, symbols %v)", m, id, channel, symbols)
	}
}

// barrier sends a ping and returns every message before its pong (heartbeats left out). Call it after
// testFeed.flush: everything the feed queued for the connection until then comes before the pong.
func (c *client) barrier() []wsMsg {
	c.t.Helper()
	const id = 424242
	c.send(fmt.Sprintf(`{"op":"ping","id":%d}`, id))
	var out []wsMsg
	for {
		m := c.next()
		if m.Type == "pong" && m.ID != nil && *m.ID == id {
			return out
		}
		out = append(out, m)
	}
}

// closeError reads until the connection ends and returns the close frame it ended with; gorilla has
// answered it, and the client then closes its socket, as a browser does.
func (c *client) closeError() *websocket.CloseError {
	c.t.Helper()
	for {
		_, err := c.recv()
		if err == nil {
			continue
		}
		_ = c.conn.Close()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

// apply checks a book message against the subscription's state and applies it to the client's book: an
// update must follow the last message's seq (prev_seq), levels must be canonical decimals, the book must not
// hold more than the subscription's depth, and the checksum must match the book after the message.
func (c *client) apply(m wsMsg) error {
	if m.Channel != "book" {
		return fmt.Errorf("%s: channel %q, want book", m, m.Channel)
	}
	cb := c.books[m.Symbol]
	if cb == nil {
		cb = &clientBook{book: newRefBook()}
		c.books[m.Symbol] = cb
	}
	switch m.Type {
	case "snapshot":
		if m.PrevSeq != nil {
			return fmt.Errorf("snapshot with a prev_seq: %s", m)
		}
		for _, l := range append(slices.Clone(m.Bids), m.Asks...) {
			if len(l) == 2 && l[1] == "0" {
				return fmt.Errorf("snapshot with a zero-size level: %s", m)
			}
		}
		cb.book = newRefBook()
		cb.snaps++
	case "update":
		if !cb.have {
			return fmt.Errorf("update before any snapshot: %s", m)
		}
		if m.PrevSeq == nil || *m.PrevSeq != cb.lastSeq {
			return fmt.Errorf("gap: update %s does not follow seq %d", m, cb.lastSeq)
		}
		if m.Seq <= cb.lastSeq {
			return fmt.Errorf("seq went back: %d after %d", m.Seq, cb.lastSeq)
		}
		cb.updates++
	default:
		return fmt.Errorf("not a book message: %s", m)
	}
	if err := cb.book.apply(m.Bids, m.Asks, true); err != nil {
		return fmt.Errorf("%s: %v", m, err)
	}
	if m.Type == "snapshot" {
		got := cb.book.top(0)
		if !orderedBestFirst(m) {
			return fmt.Errorf("snapshot levels are not best first: %s (book %s)", m, got)
		}
	}
	cb.have, cb.lastSeq = true, m.Seq
	if c.depth > 0 && (len(cb.book.bids) > c.depth || len(cb.book.asks) > c.depth) {
		return fmt.Errorf("after %s the client holds %d bids and %d asks, more than depth %d", m, len(cb.book.bids), len(cb.book.asks), c.depth)
	}
	if m.Checksum == nil {
		return fmt.Errorf("no checksum: %s", m)
	}
	if want := cb.book.checksum(c.depth); *m.Checksum != want {
		return fmt.Errorf("checksum %d, want %d (crc32 of %q) after %s", *m.Checksum, want, cb.book.top(checksumLevels(c.depth)), m)
	}
	return nil
}

// orderedBestFirst reports whether both sides of a book message are best first with no repeated price.
func orderedBestFirst(m wsMsg) bool {
	for i, side := range [][][]string{m.Bids, m.Asks} {
		for j := 1; j < len(side); j++ {
			c := decimal.RequireFromString(side[j-1][0]).Cmp(decimal.RequireFromString(side[j][0]))
			if (i == 0 && c <= 0) || (i == 1 && c >= 0) {
				return false
			}
		}
	}
	return true
}

// mustApply applies a book message and fails the test on a violation.
func (c *client) mustApply(m wsMsg) {
	c.t.Helper()
	if err := c.apply(m); err != nil {
		c.t.Fatal(err)
	}
}

// applyAll applies the book messages of msgs and returns the others.
func (c *client) applyAll(msgs []wsMsg) (other []wsMsg) {
	c.t.Helper()
	for _, m := range msgs {
		if m.isBook() {
			c.mustApply(m)
		} else {
			other = append(other, m)
		}
	}
	return other
}

func (c *client) book(symbol string) *clientBook {
	c.t.Helper()
	cb := c.books[symbol]
	if cb == nil || !cb.have {
		c.t.Fatalf("client has no book of %s", symbol)
	}
	return cb
}
