package feed

import (
	"context"
	"time"
)

// drainText is the close reason of a connection closed by Shutdown.
const drainText = "server draining"

// isDraining reports whether Shutdown has started: new handshakes get 503, and so does /readyz.
func (s *Server) isDraining() bool {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.draining
}

// drain decides to close the session with 1001 once what is already queued has been written: nothing new
// is queued from now on, and the writes (the close frame included) must be done by deadline, after which
// the socket is dropped.
func (s *session) drain(deadline time.Time) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.reason, s.closeText = ReasonShutdown, drainText
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	_ = s.nc.SetWriteDeadline(deadline)
	if start {
		s.startWriteLoop(nil)
	}
}

// Shutdown drains the server: from its start new handshakes get HTTP 503 and /readyz answers 503 (so a load
// balancer stops sending clients), every connection is sent what was already queued for it and then
// closed with 1001 "server draining". Connections whose queue has not gone out within Config.DrainTimeout
// (or by ctx's deadline, if earlier) are dropped. Shutdown returns once every connection has gone; it
// returns ctx.Err() if ctx ended first.
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
