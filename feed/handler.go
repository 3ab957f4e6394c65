package feed

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
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
	s.proto.handle(m.Bytes())
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
