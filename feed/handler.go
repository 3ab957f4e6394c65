package feed

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// handler receives gws's connection events. gws calls OnOpen, OnMessage, OnPing and OnClose from the
// connection's read loop, one at a time.
type handler struct {
	srv *Server
}

var _ gws.Event = (*handler)(nil)

const sessionKey = "s"

// readBufferSize is the read buffer of a connection; larger messages are read through it in pieces.
const readBufferSize = 512

func sessionOf(c *gws.Conn) *session {
	v, _ := c.Session().Load(sessionKey)
	s, _ := v.(*session)
	return s
}

func (h *handler) OnOpen(c *gws.Conn) {}

func (h *handler) OnPing(c *gws.Conn, payload []byte) {
	sessionOf(c).hear(time.Now())
	_ = c.WritePong(payload)
}

func (h *handler) OnPong(c *gws.Conn, payload []byte) { sessionOf(c).hear(time.Now()) }

// onMessageHook, when set (by tests, before the server starts), sees every client message first.
var onMessageHook atomic.Pointer[func(data []byte)]

func (h *handler) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	s := sessionOf(c)
	if s == nil || s.isClosing() {
		return
	}
	if hook := onMessageHook.Load(); hook != nil {
		(*hook)(m.Bytes())
	}
	if m.Opcode == gws.OpcodeBinary {
		s.close(ReasonBinary, "binary frames are not accepted: send JSON text")
		return
	}
	now := time.Now()
	s.hear(now)
	if !s.takeToken(h.srv.cfg, now) {
		s.close(ReasonRateLimit, "client message rate over the limit")
		return
	}
	h.srv.handleRequest(s, m.Bytes())
}

func (h *handler) OnClose(c *gws.Conn, err error) {
	s := sessionOf(c)
	if s == nil {
		return
	}
	defer h.srv.readers.Done()
	reason := ReasonPeer
	s.mu.Lock()
	if s.closing {
		reason = s.reason
	} else {
		s.closing = true
		// gws closed on its own for a frame it refused (1002, 1009…), or the peer went away.
		var code interface{ Uint16() uint16 }
		if errors.As(err, &code) {
			reason = reasonForCode(code.Uint16())
		}
		s.reason = reason
	}
	s.mu.Unlock()
	s.recordDisconnect(reason)
	h.srv.conns.Add(-1)
	h.srv.unregister(s)
	s.nc.finish()
	s.adm.release()
	h.srv.log.Debug("connection closed", "remote", s.remote, "reason", reason.String(), "err", err)
}

// takeToken applies the per-connection token bucket on client messages.
func (s *session) takeToken(cfg Config, now time.Time) bool {
	if s.tokensAt.IsZero() {
		s.tokens, s.tokensAt = float64(cfg.OpsBurst), now
	}
	s.tokens = min(float64(cfg.OpsBurst), s.tokens+now.Sub(s.tokensAt).Seconds()*cfg.OpsPerSecond)
	s.tokensAt = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// serveWS upgrades a request on /ws to a WebSocket connection.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	adm := admissionFrom(r.Context())
	if adm == nil { // not a WebSocket upgrade (those pass the guard in ServeHTTP)
		http.Error(w, "expected a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	s.sessMu.Lock()
	draining := s.draining
	s.sessMu.Unlock()
	if draining {
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
	guard := &frameGuard{src: src, max: s.cfg.MaxMessageBytes,
		deflate: !s.cfg.DisableCompression && strings.Contains(r.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")}
	ws, err := s.up.UpgradeFromConn(nc, bufio.NewReaderSize(guard, 16), r)
	if err != nil {
		nc.abort()
		s.log.Debug("websocket handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	sess := &session{srv: s, ws: ws, nc: nc, remote: r.RemoteAddr, subs: map[subKey]*subscription{},
		deflate: guard.deflate}
	guard.sess = sess
	sess.adm, sess.ident = adm, adm.identity()
	if sess.raw = rawConnOf(raw); sess.raw != nil {
		sess.fl = s.flushShardFor()
	}
	sess.hear(time.Now())
	if r.Context().Value(replayRoute{}) != nil {
		sess.rp = &replayConn{srv: s, sess: sess}
	}
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
