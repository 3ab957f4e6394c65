package feed

import (
	"context"
	"fmt"
	"time"
)

// hear records that a frame arrived from the client.
func (s *session) hear(now time.Time) {
	if s != nil {
		s.heard.Store(now.UnixNano())
	}
}

// maxSubscriptions is the subscription limit of the session: the server's, or its token's when lower.
func (s *session) maxSubscriptions(server int) int {
	if s.ident != nil && s.ident.MaxSubscriptions > 0 {
		return min(server, s.ident.MaxSubscriptions)
	}
	return server
}

// authorizeSymbols answers "unauthorized" and reports false when the session's token may not see one of
// syms; nothing of the request is then subscribed or replayed. The connection stays open. Subscribe on /ws
// and replay on /replay both decide through it.
func (s *Server) authorizeSymbols(sess *session, id int64, syms []string) bool {
	denied := sess.ident.Denied(syms...)
	if len(denied) == 0 {
		return true
	}
	s.reply(sess, id, CodeUnauthorized, "not authorized for: "+quoteList(denied))
	return false
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
