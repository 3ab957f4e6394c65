package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/schema"
	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/metric/noop"
)

// fanServer is a contender of the fan-out scenarios: a server on a loopback port that clients subscribe to
// and that the producer publishes deltas into.
type fanServer interface {
	name() string
	addr() string
	subscribe(syms []string) []byte // what a client sends after the upgrade
	initialMsgs(nsyms int) int64    // messages a client gets for its subscription before any delta
	publish(d *delta)               // called from one producer goroutine
	slowClosed() int64              // clients closed as slow consumers so far
	close()
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// ---- depthcast: the real feed.Server behind net/http, fed by an engine.Pipeline ----

type dcServer struct {
	node   *node.Node
	pipe   *engine.Pipeline
	rec    []byte
	offset int64
}

// startNode runs a depthcast node of cfg on a loopback port, built as the depthcast command builds one,
// without metrics (the baselines have none either) or HTTP connection caps. Close stops it.
func startNode(cfg node.Config) (n *node.Node, err error) {
	if cfg.Listener, err = listenLoopback(); err != nil {
		return nil, err
	}
	cfg.Logger = quietLogger
	cfg.MeterProvider = noop.NewMeterProvider()
	cfg.MaxHTTPConnectionsPerIP = -1
	if n, err = node.New(cfg); err != nil {
		_ = cfg.Listener.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	select {
	case <-n.Started():
	case err := <-done:
		return nil, err
	}
	return n, nil
}

// startDepthcast runs a node with syms already live (a snapshot of levels levels per side each), whose
// books the benchmark feeds.
func startDepthcast(cfg feed.Config, syms []string, levels int) (*dcServer, error) {
	d := &dcServer{}
	n, err := startNode(node.Config{Feed: cfg, Input: func(pub engine.Publisher) (node.Input, error) {
		p, err := engine.New(engine.Config{Logger: quietLogger}, pub)
		d.pipe = p
		return p, err
	}})
	if err != nil {
		return nil, err
	}
	d.node = n
	ctx := context.Background()
	now := schema.FormatTime(time.Now())
	for _, s := range syms {
		if err := d.pipe.Submit(ctx, engine.Record{Key: []byte(s), Value: snapshotRecord(s, 1, levels, now)}); err != nil {
			_ = n.Close()
			return nil, err
		}
	}
	if err := d.pipe.Flush(ctx); err != nil {
		_ = n.Close()
		return nil, err
	}
	return d, nil
}

func (d *dcServer) name() string { return "depthcast" }
func (d *dcServer) addr() string { return d.node.Addr() }
func (d *dcServer) subscribe(syms []string) []byte {
	return subscribeMsg(syms, 0)
}
func (d *dcServer) initialMsgs(n int) int64 { return int64(1 + n) }
func (d *dcServer) slowClosed() int64       { return -1 } // not observable from outside; clients report codes

// publish submits the delta's upstream record: decoding, sequencing, book apply and fan-out all run in
// depthcast.
func (d *dcServer) publish(dl *delta) {
	d.rec = dl.record(d.rec[:0])
	d.offset++
	_ = d.pipe.Submit(context.Background(), engine.Record{Offset: d.offset, Key: []byte(dl.sym), Value: d.rec})
}

func (d *dcServer) close() { _ = d.node.Close() }

func subscribeMsg(syms []string, depth int) []byte {
	b := []byte(`{"op":"subscribe","id":1,"channel":"book","symbols":[`)
	for i, s := range syms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	b = append(b, `],"depth":`...)
	b = fmt.Appendf(b, "%d}", depth)
	return b
}

// ---- baseline 1: a gorilla/websocket hub as people write it ----

// gorillaHub: one PreparedMessage per update, a bounded channel and a writer goroutine per client, a reader
// goroutine per client that registers it on its first message. A client whose channel is full is closed
// with 1013 (the same slow-consumer policy, in messages instead of bytes).
type gorillaHub struct {
	up      websocket.Upgrader
	hs      *http.Server
	ln      net.Listener
	mu      sync.RWMutex
	clients map[*gclient]struct{}
	slow    atomic.Int64
	buf     []byte
	lv      []schema.IntLevel
	chanCap int
}

type gclient struct {
	h    *gorillaHub
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
	once sync.Once
}

const gorillaChanCap = 4096

func startGorilla() (*gorillaHub, error) {
	h := &gorillaHub{clients: map[*gclient]struct{}{}, chanCap: gorillaChanCap,
		up: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}}
	var err error
	if h.ln, err = listenLoopback(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.serveWS)
	h.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.hs.Serve(h.ln) }()
	return h, nil
}

func (h *gorillaHub) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gclient{h: h, conn: conn, send: make(chan *websocket.PreparedMessage, h.chanCap)}
	go c.writer()
	go c.reader()
}

func (c *gclient) reader() {
	defer c.kill(0, "")
	c.conn.SetReadLimit(64 << 10)
	registered := false
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
		if !registered { // the subscribe: join the hub and confirm
			registered = true
			c.h.mu.Lock()
			c.h.clients[c] = struct{}{}
			c.h.mu.Unlock()
			pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, []byte(`{"type":"subscribed","id":1,"channel":"book"}`))
			select {
			case c.send <- pm:
			default:
			}
		}
	}
}

func (c *gclient) writer() {
	for pm := range c.send {
		_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.conn.WritePreparedMessage(pm); err != nil {
			c.kill(0, "")
			break
		}
	}
	for range c.send { // drain until the channel is closed
	}
	_ = c.conn.Close()
}

// kill removes the client and ends its writer; code != 0 sends a close frame first.
func (c *gclient) kill(code int, reason string) {
	c.once.Do(func() {
		if code != 0 {
			_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		}
		c.h.mu.Lock()
		delete(c.h.clients, c)
		c.h.mu.Unlock()
		close(c.send)
		_ = c.conn.Close()
	})
}

func (h *gorillaHub) name() string                { return "gorilla-hub" }
func (h *gorillaHub) addr() string                { return h.ln.Addr().String() }
func (h *gorillaHub) subscribe(s []string) []byte { return subscribeMsg(s, 0) }
func (h *gorillaHub) initialMsgs(int) int64       { return 1 }
func (h *gorillaHub) slowClosed() int64           { return h.slow.Load() }

func (h *gorillaHub) publish(d *delta) {
	h.buf = d.update(h.buf[:0], h.lv)
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, h.buf)
	if err != nil {
		return
	}
	h.mu.RLock()
	var slow []*gclient
	for c := range h.clients {
		select {
		case c.send <- pm:
		default:
			slow = append(slow, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		h.slow.Add(1)
		go c.kill(1013, "slow consumer")
	}
}

func (h *gorillaHub) close() {
	_ = h.hs.Close()
	h.mu.RLock()
	var all []*gclient
	for c := range h.clients {
		all = append(all, c)
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.kill(0, "")
	}
}

// ---- baseline 2: raw TCP, sharded flushers: the physical ceiling ----

// rawServer does the HTTP upgrade by hand; each connection then belongs to one of GOMAXPROCS shards
// (round-robin at accept). publish frames an update once and, shard by shard under the shard's lock,
// appends the frame to the pending bytes of every connection of the shard; a connection whose pending
// bytes go from empty to non-empty joins the shard's dirty list, and the shard's flusher is woken if it
// was idle. Each shard has one flusher goroutine: per round it takes the dirty list and every dirty
// connection's pending bytes (one swap under the lock), then writes each connection's bytes with one
// non-blocking write(2). What a full socket does not take stays for the next round (retried after at most
// 1 ms). So per message the server costs one memmove per subscriber and per round one syscall per
// connection, with no goroutine or wake-up per connection: nothing a WebSocket server has to do beyond
// this, hence a ceiling. Connections over the same 8 MiB bound as depthcast's default are dropped. A
// reader goroutine per connection (parked in the netpoller) discards what the client sends.
type rawServer struct {
	ln     net.Listener
	shards []*rawShard
	next   atomic.Uint64
	slow   atomic.Int64
	buf    []byte
	frame  []byte
	lv     []schema.IntLevel
	limit  int
	done   chan struct{}
	wg     sync.WaitGroup
}

type rawShard struct {
	mu    sync.Mutex
	conns []*rawConn // live connections; rawConn.idx is the position
	dirty []*rawConn // connections with pending bytes
	spare []*rawConn
	wake  chan struct{} // capacity 1
}

type rawConn struct {
	c    net.Conn
	raw  syscall.RawConn
	sh   *rawShard
	idx  int    // in sh.conns, under sh.mu
	dead bool   // under sh.mu
	pend []byte // appended by publish, under sh.mu
	out  []byte // owned by the flusher: bytes taken from pend and not yet written
}

func startRaw() (*rawServer, error) {
	s := &rawServer{limit: feed.DefaultSendQueueBytes, done: make(chan struct{})}
	var err error
	if s.ln, err = listenLoopback(); err != nil {
		return nil, err
	}
	for range runtime.GOMAXPROCS(0) {
		sh := &rawShard{wake: make(chan struct{}, 1)}
		s.shards = append(s.shards, sh)
		s.wg.Go(func() { s.flusher(sh) })
	}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *rawServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

func (s *rawServer) serve(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil || rawUpgrade(c) != nil {
		_ = c.Close()
		return
	}
	sh := s.shards[s.next.Add(1)%uint64(len(s.shards))]
	rc := &rawConn{c: c, raw: raw, sh: sh}
	hello := appendServerFrame(nil, []byte(`{"type":"subscribed","id":1,"channel":"book"}`))
	sh.mu.Lock()
	select {
	case <-s.done:
		sh.mu.Unlock()
		_ = c.Close()
		return
	default:
	}
	rc.idx = len(sh.conns)
	sh.conns = append(sh.conns, rc)
	rc.pend = append(rc.pend, hello...)
	idle := len(sh.dirty) == 0
	sh.dirty = append(sh.dirty, rc)
	sh.mu.Unlock()
	if idle {
		sh.signal()
	}
	buf := make([]byte, 512) // read and discard what the client sends; a read error ends the connection
	for {
		if _, err := c.Read(buf); err != nil {
			s.drop(rc)
			return
		}
	}
}

func (sh *rawShard) signal() {
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// flusher writes the shard's dirty connections, one write per connection per round.
func (s *rawServer) flusher(sh *rawShard) {
	var work, carry, slow []*rawConn
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		if len(carry) > 0 {
			retry.Reset(time.Millisecond)
		}
		select {
		case <-s.done:
			return
		case <-sh.wake:
		case <-retry.C:
		}
		sh.mu.Lock()
		work, slow = work[:0], slow[:0]
		for _, rc := range carry { // a connection with leftovers may also be on the dirty list
			if len(rc.out)+len(rc.pend) > s.limit {
				slow = append(slow, rc)
				continue
			}
			rc.out = append(rc.out, rc.pend...)
			rc.pend = rc.pend[:0]
			work = append(work, rc)
		}
		for _, rc := range sh.dirty {
			if rc.dead || len(rc.pend) == 0 { // dropped, or on carry and taken above
				continue
			}
			if len(rc.out) == 0 {
				rc.out, rc.pend = rc.pend, rc.out[:0]
				work = append(work, rc)
			} else { // on carry: already in work
				rc.out = append(rc.out, rc.pend...)
				rc.pend = rc.pend[:0]
			}
		}
		sh.dirty, sh.spare = sh.spare[:0], sh.dirty[:0]
		sh.mu.Unlock()
		for _, rc := range slow {
			s.slow.Add(1)
			s.drop(rc)
			rc.out = nil
		}
		carry = carry[:0]
		for _, rc := range work {
			n, err := rc.write(rc.out)
			if err != nil {
				s.drop(rc)
				rc.out = rc.out[:0]
				continue
			}
			rc.out = rc.out[:copy(rc.out, rc.out[n:])]
			if len(rc.out) > 0 {
				carry = append(carry, rc)
			}
		}
	}
}

// write does one non-blocking write(2) of p; a full socket (EAGAIN) is not an error.
func (rc *rawConn) write(p []byte) (int, error) {
	var n int
	var werr error
	err := rc.raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), p)
		return true
	})
	if n < 0 {
		n = 0
	}
	if err != nil {
		return n, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		werr = nil
	}
	return n, werr
}

func (s *rawServer) drop(rc *rawConn) {
	sh := rc.sh
	sh.mu.Lock()
	if !rc.dead {
		rc.dead = true
		last := sh.conns[len(sh.conns)-1]
		sh.conns[rc.idx], last.idx = last, rc.idx
		sh.conns[len(sh.conns)-1] = nil
		sh.conns = sh.conns[:len(sh.conns)-1]
		rc.pend = nil
	}
	sh.mu.Unlock()
	_ = rc.c.Close()
}

func (s *rawServer) name() string                { return "raw-tcp" }
func (s *rawServer) addr() string                { return s.ln.Addr().String() }
func (s *rawServer) subscribe(x []string) []byte { return subscribeMsg(x, 0) }
func (s *rawServer) initialMsgs(int) int64       { return 1 }
func (s *rawServer) slowClosed() int64           { return s.slow.Load() }

func (s *rawServer) publish(d *delta) {
	s.buf = d.update(s.buf[:0], s.lv)
	s.frame = appendServerFrame(s.frame[:0], s.buf)
	var slow []*rawConn
	for _, sh := range s.shards {
		sh.mu.Lock()
		idle := len(sh.dirty) == 0
		for _, rc := range sh.conns {
			if len(rc.pend)+len(s.frame) > s.limit {
				slow = append(slow, rc)
				continue
			}
			if len(rc.pend) == 0 {
				sh.dirty = append(sh.dirty, rc)
			}
			rc.pend = append(rc.pend, s.frame...)
		}
		sh.mu.Unlock()
		if idle {
			sh.signal()
		}
	}
	for _, rc := range slow {
		s.slow.Add(1)
		s.drop(rc)
	}
}

func (s *rawServer) close() {
	_ = s.ln.Close()
	close(s.done)
	var all []*rawConn
	for _, sh := range s.shards {
		sh.mu.Lock()
		all = append(all, sh.conns...)
		sh.mu.Unlock()
	}
	for _, rc := range all {
		s.drop(rc)
	}
	s.wg.Wait()
}

// appendServerFrame appends an unmasked final text frame.
func appendServerFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, payload...)
}

// rawUpgrade reads an HTTP upgrade request and answers 101.
func rawUpgrade(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if i := indexCRLF2(buf); i >= 0 {
			key := headerValue(buf[:i], "sec-websocket-key")
			if key == "" {
				return errors.New("no Sec-WebSocket-Key")
			}
			_, err := c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				acceptKey(key) + "\r\n\r\n"))
			return err
		}
		if err != nil {
			return err
		}
		if len(buf) > 8192 {
			return errors.New("request header too large")
		}
	}
}

func indexCRLF2(b []byte) int {
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' && b[i+2] == '\r' && b[i+3] == '\n' {
			return i
		}
	}
	return -1
}

func headerValue(head []byte, name string) string {
	for _, line := range splitLines(string(head)) {
		k, v, ok := cutColon(line)
		if ok && equalFold(k, name) {
			return trimSpace(v)
		}
	}
	return ""
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
