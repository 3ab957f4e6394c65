package feed

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
	"github.com/lxzan/gws"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Server is the WebSocket feed and the HTTP endpoints beside it. It serves the subscribers of its Hub
// (which the books' writers publish to) and reads books through its Books. Create it with New, run its
// timers with Run, stop it with Shutdown.
type Server struct {
	cfg     Config
	hub     *Hub
	books   engine.Books
	log     *slog.Logger
	metrics *metrics
	up      *gws.Upgrader
	mux     *http.ServeMux
	guard   *guard

	sessMu   sync.Mutex
	sessions map[*session]struct{}
	draining bool

	flushers    []*flushShard // GOMAXPROCS at New
	nextFlusher atomic.Uint32

	wg      sync.WaitGroup // write loops, flushers and closers
	readers sync.WaitGroup // connection read loops
	conns   atomic.Int64
	replays atomic.Int64 // replays running (MaxReplays)
}

// New returns a Server for the subscribers of hub, reading books through books (the input whose writers
// publish to hub).
func New(cfg Config, hub *Hub, books engine.Books) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hub == nil || books == nil {
		return nil, fmt.Errorf("%w: a Server needs its Hub and its Books", ErrConfig)
	}
	s := &Server{cfg: cfg.withDefaults(), hub: hub, books: books, sessions: map[*session]struct{}{}}
	s.log = s.cfg.Logger
	for range runtime.GOMAXPROCS(0) {
		s.flushers = append(s.flushers, &flushShard{srv: s})
	}
	m, err := newMetrics(s.cfg.Meter, s)
	if err != nil {
		return nil, fmt.Errorf("feed metrics: %w", err)
	}
	s.metrics = m
	s.guard = newGuard(s.cfg.Guard, m, s.log)
	s.up = gws.NewUpgrader(&handler{srv: s}, &gws.ServerOption{
		ReadMaxPayloadSize: s.cfg.MaxMessageBytes,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   5 * time.Second,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               !s.cfg.DisableCompression,
			ServerContextTakeover: false,
			ClientContextTakeover: false,
			Threshold:             s.cfg.CompressThreshold,
		},
	})
	s.mux = s.routes()
	return s, nil
}

// routes registers the WebSocket routes, each with its protocol, and the HTTP API.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.upgrade(func(sess *session) protocol { return newLiveConn(s, sess) }))
	if s.cfg.Replayer != nil {
		mux.HandleFunc("GET /replay", s.upgrade(func(sess *session) protocol { return &replayConn{srv: s, sess: sess} }))
	}
	a := &api{hub: s.hub, books: s.books, stats: s.Stats, metrics: s.cfg.Metrics,
		ready: func() bool { return s.cfg.Ready() }, draining: s.isDraining}
	a.register(mux)
	return mux
}

// ServeHTTP serves the feed: /ws, /replay (with a Replayer), the HTTP API (/v1/symbols, /v1/book/{symbol},
// /v1/stats, /healthz, /readyz, /metrics) and the dashboard at / with its assets under /ui/. Every
// WebSocket upgrade, whatever its route, passes the door first (Config.Guard), and so does every /v1/
// request when authentication is on.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
		s.guard.serveUpgrade(w, r, s.mux)
		return
	}
	r, ok := s.guard.checkAPI(w, r)
	if !ok {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Run sends heartbeats, pings, flushes conflated views and drops idle views until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	hb := time.NewTicker(s.cfg.Heartbeat)
	defer hb.Stop()
	fl := time.NewTicker(5 * time.Millisecond)
	defer fl.Stop()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	stopPings := s.startPings(ctx)
	defer stopPings()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-fl.C:
			s.hub.flushConflated(ctx, s.books, now)
		case now := <-sweep.C:
			s.hub.dropIdleViews(now)
		case now := <-hb.C:
			var buf [96]byte
			m := newMessage(schema.AppendHeartbeat(buf[:0], schema.FormatTime(now)))
			for _, sess := range s.sessionList() {
				sess.send(m)
			}
		}
	}
}

// pingMessage is a WebSocket ping frame with no payload, shared by every connection. Control frames are
// never compressed.
var pingMessage = func() *message {
	f := appendFrame(nil, 0x89, nil)
	m := &message{frame: f, deflated: f}
	m.deflateOnce.Do(func() {})
	return m
}()

// startPings pings every connection each PingInterval, and closes those idle past IdleTimeout, until ctx
// is done. The returned function waits for it to stop.
func (s *Server) startPings(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.guard.cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.pingAll(now)
			}
		}
	}()
	return func() { <-done }
}

// pingAll closes the connections from which nothing arrived within IdleTimeout (1008 "idle timeout") and
// queues a ping for the others: the ping goes out behind the data already queued, and its pong (or any
// frame) keeps the connection alive.
func (s *Server) pingAll(now time.Time) {
	idle := s.guard.cfg.IdleTimeout
	for _, sess := range s.sessionList() {
		if idle > 0 && now.Sub(time.Unix(0, sess.heard.Load())) >= idle {
			sess.close(ReasonIdle, fmt.Sprintf("idle timeout: nothing received for %v", idle))
			continue
		}
		sess.send(pingMessage)
	}
}

// drainText is the close reason of a connection closed by Shutdown.
const drainText = "server draining"

// Shutdown drains the server: from its start new handshakes get HTTP 503 and /readyz answers 503 (so a load
// balancer stops sending clients), every connection is sent what was already queued for it and then
// closed with 1001 "server draining". Connections whose queue has not gone out within Config.DrainTimeout
// (or by ctx's deadline, if earlier) are dropped. Shutdown returns once every connection has gone; it
// returns ctx.Err() if ctx ended first. It may be called from any goroutine while publishing goes on.
func (s *Server) Shutdown(ctx context.Context) error {
	s.sessMu.Lock()
	s.draining = true
	s.sessMu.Unlock()
	deadline := time.Now().Add(s.cfg.DrainTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for _, sess := range s.sessionList() {
		sess.drain(deadline)
	}
	done := make(chan struct{})
	go func() {
		s.readers.Wait()
		s.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case <-done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	// Past the drain: whoever is still connected (a stalled client, one that never answered the close) is
	// dropped.
	for _, sess := range s.sessionList() {
		sess.nc.abort()
	}
	<-done
	return err
}

// isDraining reports whether Shutdown has started: new handshakes get 503, and so does /readyz.
func (s *Server) isDraining() bool {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.draining
}

// Stats returns the feed's health counters now. Closes lists every reason that happened at least once, in
// the order of the CloseReason constants.
func (s *Server) Stats() Stats {
	c := &s.metrics.count
	now := time.Now()
	books, trades := s.hub.subscriptionCount()
	st := Stats{
		Time:               schema.FormatTime(now),
		UptimeSeconds:      now.Sub(c.started).Seconds(),
		Connections:        s.conns.Load(),
		ConnectionsOpened:  c.opened.Load(),
		ConnectionsRefused: c.refused.Load(),
		Subscriptions:      books + trades,
		MessagesSent:       c.messagesOut.Load(),
		BytesSent:          c.bytesOut.Load(),
		SlowConsumers:      c.slowConsumers.Load(),
		MalformedRequests:  c.badRequests.Load(),
		Closes:             []CloseCount{},
	}
	st.BytesQueued = s.queuedBytes()
	for r := range c.closes {
		if n := c.closes[r].Load(); n > 0 {
			st.Closes = append(st.Closes, CloseCount{Reason: CloseReason(r).String(), Code: CloseReason(r).Code(), Count: n})
		}
	}
	for _, sym := range s.hub.symbols() {
		st.Symbols.Total++
		if sym.Status == schema.StatusLive {
			st.Symbols.Live++
		} else {
			st.Symbols.Stale++
		}
	}
	return st
}

// queuedBytes sums what is queued for every connection and not yet written.
func (s *Server) queuedBytes() int64 {
	var n int64
	for _, sess := range s.sessionList() {
		n += int64(sess.queued())
	}
	return n
}

// upgrade returns the handler of a WebSocket route: it upgrades a request that passed the door and serves
// the connection with the protocol newProto makes for it.
func (s *Server) upgrade(newProto func(*session) protocol) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		adm := admissionFrom(r.Context())
		if adm == nil { // not a WebSocket upgrade (those pass the door in ServeHTTP)
			http.Error(w, "expected a WebSocket upgrade", http.StatusBadRequest)
			return
		}
		if s.isDraining() {
			http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
			return
		}
		// Reserve the connection's slot before the handshake, so concurrent handshakes cannot overshoot.
		if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
			s.conns.Add(-1)
			s.metrics.refused.Add(r.Context(), 1, metric.WithAttributes(attribute.String("reason", "max_connections")))
			s.metrics.count.refused.Add(1)
			http.Error(w, "connection limit reached", http.StatusTooManyRequests)
			return
		}
		registered := false
		defer func() {
			if !registered {
				s.conns.Add(-1)
				adm.release()
			}
		}()
		if !validWebSocketKey(r.Header.Get("Sec-WebSocket-Key")) {
			http.Error(w, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes", http.StatusBadRequest)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
			return
		}
		adm.claim() // the session releases the slots itself, so the socket stays unwrapped (writev)
		raw, brw, err := hj.Hijack()
		if err != nil {
			return
		}
		nc := newNetConn(raw, s.cfg.Linger)
		// Client messages are small: unless the client already pipelined bytes into the HTTP server's 4 KiB
		// reader, read through a small one and let that one go (it is most of an idle connection's memory).
		var src io.Reader = brw.Reader
		if brw.Reader.Buffered() == 0 {
			src = bufio.NewReaderSize(raw, readBufferSize)
		}
		// Every frame header passes frameGuard before gws reads it; gws's own reader in front of the guard
		// is the smallest bufio allows (payload reads bypass it).
		fg := &frameGuard{src: src, max: s.cfg.MaxMessageBytes,
			deflate: !s.cfg.DisableCompression && strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")}
		ws, err := s.up.UpgradeFromConn(nc, bufio.NewReaderSize(fg, 16), r)
		if err != nil {
			nc.abort()
			s.log.Debug("websocket handshake refused", "remote", r.RemoteAddr, "err", err)
			return
		}
		_ = raw.SetDeadline(time.Time{})
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		sess := &session{srv: s, ws: ws, nc: nc, remote: r.RemoteAddr, deflate: fg.deflate}
		fg.sess = sess
		sess.adm, sess.grant = adm, adm.grant()
		if sess.raw = rawConnOf(raw); sess.raw != nil {
			sess.fl = s.flushShardFor()
		}
		sess.proto = newProto(sess)
		sess.hear(time.Now())
		ws.Session().Store(sessionKey, sess)
		if err := s.register(sess); err != nil {
			_ = ws.WriteClose(ReasonShutdown.Code(), []byte(err.Error()))
			nc.finish()
			return
		}
		registered = true
		adm.onExpiry(func() { sess.close(ReasonTokenExpired, "token expired") })
		s.metrics.connects.Add(context.Background(), 1)
		s.metrics.count.opened.Add(1)
		go s.readLoop(sess)
	}
}

// readLoop runs gws's read loop of sess. A panic on the client's bytes ends that connection alone: it is
// closed with 1002, logged and counted (reason "panic"), and its slots are released as on any close.
func (s *Server) readLoop(sess *session) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		s.log.Error("connection read loop panicked", "remote", sess.remote, "panic", fmt.Sprint(v),
			"stack", string(debug.Stack()))
		sess.refuse(ReasonPanic, "protocol error")
		(&handler{srv: s}).OnClose(sess.ws, errFrameRefused)
	}()
	sess.ws.ReadLoop()
}

// validWebSocketKey reports whether key is the base64 encoding of 16 bytes (RFC 6455 §4.2.1).
func validWebSocketKey(key string) bool {
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}

// errDraining refuses handshakes during Shutdown.
var errDraining = errors.New("server is shutting down")

// register adds sess to the sessions, unless the server is draining.
func (s *Server) register(sess *session) error {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.draining {
		return errDraining
	}
	s.sessions[sess] = struct{}{}
	s.readers.Add(1) // under sessMu, so Shutdown's Wait cannot start before it
	return nil
}

// unregister removes sess, whose connection ended, and lets its protocol drop what it held.
func (s *Server) unregister(sess *session) {
	s.sessMu.Lock()
	delete(s.sessions, sess)
	s.sessMu.Unlock()
	sess.proto.closed()
}

func (s *Server) sessionList() []*session {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// flushShardFor picks the flusher shard of a new connection, round-robin.
func (s *Server) flushShardFor() *flushShard {
	return s.flushers[s.nextFlusher.Add(1)%uint32(len(s.flushers))]
}

// takeReplaySlot takes one of the MaxReplays slots, or reports false.
func (s *Server) takeReplaySlot() bool {
	if s.replays.Add(1) > int64(s.cfg.MaxReplays) {
		s.replays.Add(-1)
		return false
	}
	return true
}

// releaseReplaySlot gives back a slot of takeReplaySlot.
func (s *Server) releaseReplaySlot() { s.replays.Add(-1) }
