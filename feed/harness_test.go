package feed_test

// The harness of the feed tests: a real feed.Server behind httptest (real TCP), an ingest.Pipeline as its
// book writer (Books and Publisher), upstream records submitted as the JSON of PROTOCOL.md §1, and
// gorilla/websocket clients that keep their own books and check every book message independently of the
// project's code (their own decimal ordering, their own checksum).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/schema"
	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// waitTimeout bounds every wait for something the feed must do. It is generous: the tests run with -race on
// a loaded 2-core machine. A wait returns as soon as its condition holds.
const waitTimeout = 20 * time.Second

// testFeed is one feed under test.
type testFeed struct {
	t       *testing.T
	srv     *feed.Server
	pipe    *ingest.Pipeline
	ts      *httptest.Server
	metrics *sdkmetric.ManualReader

	shutdownOnce sync.Once
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestFeed starts a feed with cfg (Logger and Meter are set by the harness) and registers its teardown:
// Shutdown, then the timers, the HTTP server and the pipeline.
func newTestFeed(t *testing.T, cfg feed.Config) *testFeed {
	t.Helper()
	f := &testFeed{t: t, metrics: sdkmetric.NewManualReader()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.metrics))
	cfg.Meter = mp.Meter("feedtest")
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	books := &ingest.LateBooks{}
	srv, err := feed.New(cfg, books)
	if err != nil {
		t.Fatalf("feed.New: %v", err)
	}
	pipe, err := ingest.NewPipeline(ingest.PipelineConfig{Shards: 2, Logger: quietLogger()}, srv)
	if err != nil {
		t.Fatalf("ingest.NewPipeline: %v", err)
	}
	books.Set(pipe)
	f.srv, f.pipe = srv, pipe

	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = srv.Run(ctx)
	}()
	f.ts = httptest.NewServer(srv)
	t.Cleanup(func() {
		f.shutdown()
		cancel()
		<-runDone
		f.ts.Close()
		pipe.Close()
		_ = mp.Shutdown(context.Background())
	})
	return f
}

// shutdown shuts the server down once and fails the test if it does not finish in time.
func (f *testFeed) shutdown() {
	f.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := f.srv.Shutdown(ctx); err != nil {
			f.t.Errorf("Shutdown: %v", err)
		}
	})
}

func (f *testFeed) wsURL() string { return "ws" + strings.TrimPrefix(f.ts.URL, "http") + "/ws" }

// submit hands upstream records (JSON values, key = their symbol) to the pipeline, in order.
func (f *testFeed) submit(values ...[]byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, v := range values {
		var k struct{ Symbol string }
		_ = json.Unmarshal(v, &k)
		if err := f.pipe.Submit(ctx, ingest.Record{Key: []byte(k.Symbol), Value: v}); err != nil {
			f.t.Fatalf("Submit: %v", err)
		}
	}
}

// flush waits until everything submitted has been applied and published to the feed: whatever the feed
// queued for a connection because of it is then ahead of any reply to a request sent after flush returns.
func (f *testFeed) flush() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f.pipe.Flush(ctx); err != nil {
		f.t.Fatalf("Flush: %v", err)
	}
}

// submitAndFlush submits values and waits for them to be published.
func (f *testFeed) submitAndFlush(values ...[]byte) {
	f.t.Helper()
	f.submit(values...)
	f.flush()
}

// pipelineBook returns the pipeline's book of symbol, top n levels per side (0: all), in the checksum
// notation "price:size;…|price:size;…", and its seq.
func (f *testFeed) pipelineBook(symbol string, n int) (string, uint64) {
	f.t.Helper()
	var s string
	var seq uint64
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := f.pipe.Do(ctx, symbol, func(b *book.Book) {
		var sb strings.Builder
		for i, side := range []book.Side{book.Bids, book.Asks} {
			if i == 1 {
				sb.WriteByte('|')
			}
			for _, l := range b.Top(side, n, nil) {
				fmt.Fprintf(&sb, "%s:%s;", schema.AppendDecimal(nil, l.Price, b.PriceExp()), schema.AppendDecimal(nil, l.Size, b.SizeExp()))
			}
		}
		s, seq = sb.String(), b.Seq()
	})
	if err != nil {
		f.t.Fatalf("pipeline Do %s: %v", symbol, err)
	}
	return s, seq
}

// counter returns the current value of an Int64 counter of the feed's metrics (summed over attributes).
func (f *testFeed) counter(name string) int64 { return f.metric(name, false) }

// gauge returns the current value of an Int64 gauge of the feed's metrics (summed over attributes).
func (f *testFeed) gauge(name string) int64 { return f.metric(name, true) }

// metric sums the data points of the Int64 counter (or, with gauge, the Int64 gauge) called name.
func (f *testFeed) metric(name string, gauge bool) int64 {
	f.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.metrics.Collect(context.Background(), &rm); err != nil {
		f.t.Fatalf("collect metrics: %v", err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !gauge {
					points = d.DataPoints
				}
			case metricdata.Gauge[int64]:
				if gauge {
					points = d.DataPoints
				}
			}
			for _, dp := range points {
				n += dp.Value
			}
		}
	}
	return n
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- upstream events ----

// upstream writes the events of one symbol with consecutive seqs, as a gateway does (PROTOCOL.md §1).
type upstream struct {
	symbol string
	seq    uint64
	t0     time.Time
}

func newUpstream(symbol string) *upstream {
	return &upstream{symbol: symbol, t0: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
}

type lv = [2]string // one level: price, size

func (u *upstream) event(fields map[string]any) []byte {
	u.seq++
	fields["symbol"] = u.symbol
	fields["seq"] = u.seq
	fields["time"] = u.t0.Add(time.Duration(u.seq) * time.Millisecond).Format(time.RFC3339Nano)
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return b
}

func levels(ls []lv) [][2]string {
	if ls == nil {
		return [][2]string{}
	}
	return ls
}

func (u *upstream) snapshot(bids, asks []lv) []byte {
	return u.event(map[string]any{"type": "snapshot", "bids": levels(bids), "asks": levels(asks)})
}

func (u *upstream) delta(bids, asks []lv) []byte {
	return u.event(map[string]any{"type": "delta", "bids": levels(bids), "asks": levels(asks)})
}

func (u *upstream) trade(price, size, side, id string) []byte {
	return u.event(map[string]any{"type": "trade", "price": price, "size": size, "side": side, "trade_id": id})
}

// skip loses the next n seqs: the next event shows a gap.
func (u *upstream) skip(n uint64) { u.seq += n }

// ---- reference books ----

// refBook is a price-level book kept with canonical decimal strings, ordered with shopspring/decimal: the
// tests' own notion of a book, independent of package book.
type refBook struct {
	bids, asks map[string]string // canonical price -> canonical size
}

func newRefBook() *refBook { return &refBook{bids: map[string]string{}, asks: map[string]string{}} }

func (b *refBook) clone() *refBook {
	c := newRefBook()
	for k, v := range b.bids {
		c.bids[k] = v
	}
	for k, v := range b.asks {
		c.asks[k] = v
	}
	return c
}

func canon(s string) (string, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// apply sets each level (size 0 deletes it). strict requires canonical input (what the feed sends).
func (b *refBook) apply(bids, asks [][]string, strict bool) error {
	for i, side := range [][][]string{bids, asks} {
		m := b.bids
		if i == 1 {
			m = b.asks
		}
		for _, l := range side {
			if len(l) != 2 {
				return fmt.Errorf("level %q is not [price, size]", l)
			}
			p, err := canon(l[0])
			if err != nil {
				return fmt.Errorf("price %q: %v", l[0], err)
			}
			s, err := canon(l[1])
			if err != nil {
				return fmt.Errorf("size %q: %v", l[1], err)
			}
			if strict && (p != l[0] || s != l[1]) {
				return fmt.Errorf("level %q is not in canonical decimal form", l)
			}
			if s == "0" {
				delete(m, p)
			} else {
				m[p] = s
			}
		}
	}
	return nil
}

// side returns one side best first.
func (b *refBook) side(bids bool) []string {
	m := b.asks
	if bids {
		m = b.bids
	}
	type priced struct {
		s string
		d decimal.Decimal
	}
	ps := make([]priced, 0, len(m))
	for p := range m {
		ps = append(ps, priced{p, decimal.RequireFromString(p)})
	}
	slices.SortFunc(ps, func(x, y priced) int {
		c := x.d.Cmp(y.d)
		if bids {
			return -c
		}
		return c
	})
	prices := make([]string, len(ps))
	for i, p := range ps {
		prices[i] = p.s
	}
	return prices
}

// top renders the best n levels per side (0: all) as "price:size;…|price:size;…", the checksum input of
// PROTOCOL.md §2.
func (b *refBook) top(n int) string {
	var sb strings.Builder
	for i, bids := range []bool{true, false} {
		if i == 1 {
			sb.WriteByte('|')
		}
		m := b.asks
		if bids {
			m = b.bids
		}
		for j, p := range b.side(bids) {
			if n > 0 && j == n {
				break
			}
			sb.WriteString(p + ":" + m[p] + ";")
		}
	}
	return sb.String()
}

// checksum computes the checksum of PROTOCOL.md §2 for a subscription of the given depth (0: full book).
func (b *refBook) checksum(depth int) uint32 {
	return crc32.ChecksumIEEE([]byte(b.top(checksumLevels(depth))))
}

// checksumLevels is the number of levels per side the checksum covers: min(10, depth), 10 for the full book.
func checksumLevels(depth int) int {
	if depth > 0 && depth < 10 {
		return depth
	}
	return 10
}

// upstreamEvent is the part of an upstream JSON event the reference needs.
type upstreamEvent struct {
	Type   string
	Symbol string
	Seq    uint64
	Bids   [][]string
	Asks   [][]string
}

// reference applies upstream events to its own books and remembers each symbol's book after every book
// event, so that a client's book at seq s can be compared with upstream's at s.
type reference struct {
	books  map[string]*refBook
	states map[string]map[uint64]*refBook
}

func newReference() *reference {
	return &reference{books: map[string]*refBook{}, states: map[string]map[uint64]*refBook{}}
}

func (r *reference) add(value []byte) {
	var e upstreamEvent
	if err := json.Unmarshal(value, &e); err != nil {
		panic(err)
	}
	if e.Type != "snapshot" && e.Type != "delta" {
		return
	}
	b := r.books[e.Symbol]
	if b == nil || e.Type == "snapshot" {
		b = newRefBook()
		r.books[e.Symbol] = b
	}
	if r.states[e.Symbol] == nil {
		r.states[e.Symbol] = map[uint64]*refBook{}
	}
	if err := b.apply(e.Bids, e.Asks, false); err != nil {
		panic(err)
	}
	r.states[e.Symbol][e.Seq] = b.clone()
}

// stateAt returns upstream's book of symbol right after the book event seq; unless exact, seq may also be
// that of a later event that did not change the book (a trade), and the book before it is returned.
func (r *reference) stateAt(symbol string, seq uint64, exact bool) *refBook {
	if b := r.states[symbol][seq]; b != nil || exact {
		return b
	}
	var best uint64
	for s := range r.states[symbol] {
		if s <= seq && s > best {
			best = s
		}
	}
	return r.states[symbol][best]
}

// ---- WebSocket client ----

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
	conn, resp, err := d.Dial(f.wsURL(), nil)
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
