package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/schema"
	"github.com/lxzan/gws"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// session is one WebSocket connection. Publishing goroutines hand it shared messages with send, which never
// blocks: the message joins a bounded queue, and whoever owns the write side (s.writing) writes everything
// queued with one writev call per drain. On a plain TCP connection that is its flusher shard (flusher.go)
// as long as non-blocking writes go through; otherwise, and to finish what a non-blocking write left, a
// write loop of its own (started when needed, ended when the queue drains, so an idle connection holds no
// writer goroutine). Past the queue's limits the session closes with 1013.
type session struct {
	srv     *Server
	ws      *gws.Conn
	nc      *netConn
	raw     syscall.RawConn // nc's socket for non-blocking writes; nil when fl is nil
	fl      *flushShard     // nil: writes go through the write loop only
	remote  string
	deflate bool
	adm     *admission   // the connection's slots at the door, released when it ends
	grant   *auth.Grant  // what the client's token allows; nil when authentication is off
	heard   atomic.Int64 // when the last frame arrived from the client, Unix nanoseconds

	mu          sync.Mutex
	queue       []*message
	spare       []*message
	queuedBytes int // bytes queued or being written
	writing     bool
	bufs        net.Buffers // the write loop's, kept between loops
	rest        restBatch   // a batch the flusher hands to the write loop
	deadline    time.Time   // write deadline in force; refreshed when less than 3/4 of WriteTimeout is left
	closing     bool
	midFrame    bool // a write stopped inside a frame: no close frame can follow; write loop only
	reason      CloseReason
	closeText   string

	// Read side: touched only by the connection's read goroutine (gws calls OnMessage from ReadLoop).
	proto       protocol // what the route serves: the live or the replay protocol
	malformedAt []time.Time
	tokens      float64
	tokensAt    time.Time
}

// send queues m. It reports false when the session is closing or was just closed as a slow consumer.
func (s *session) send(m *message) bool {
	n := len(m.frame)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	if s.queuedBytes+n > s.srv.cfg.SendQueueBytes || len(s.queue) >= s.srv.cfg.SendQueueMessages {
		queued, msgs := s.queuedBytes, len(s.queue)
		s.mu.Unlock()
		s.close(ReasonSlowConsumer, fmt.Sprintf("slow consumer: %d bytes in %d messages queued", queued, msgs))
		return false
	}
	if s.queue == nil {
		s.queue = make([]*message, 0, 16)
	}
	s.queue = append(s.queue, m)
	s.queuedBytes += n
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		if s.fl != nil {
			s.fl.add(s)
		} else {
			s.startWriteLoop(nil)
		}
	}
	return true
}

// writeDeadline returns the deadline for the next write, or zero to keep the one in force: setting a
// deadline costs a timer update, so it is moved only when less than 3/4 of WriteTimeout is left.
func (s *session) writeDeadline() time.Time {
	now := time.Now()
	wt := s.srv.cfg.WriteTimeout
	if s.deadline.Sub(now) >= wt*3/4 {
		return time.Time{}
	}
	s.deadline = now.Add(wt)
	return s.deadline
}

// sendBytes frames payload for this connection alone (replies) and queues it.
func (s *session) sendBytes(payload []byte) bool { return s.send(newMessage(payload)) }

// restBatch is a batch its flusher began and handed over: the frames of batch from wire byte off on are
// still to be written; locked: the flusher holds the connection's write lock for the write loop.
type restBatch struct {
	batch      []*message
	size, wire int // queued bytes and wire bytes of the whole batch
	off        int
	locked     bool
}

// startWriteLoop starts the connection's own write loop, which begins with rest when it is not nil; the
// caller owns the write side (s.writing) and hands it over.
func (s *session) startWriteLoop(rest *restBatch) {
	s.srv.wg.Add(1)
	go s.writeLoop(rest)
}

// writeLoop writes until the queue is drained, starting with rest when the flusher handed one over.
func (s *session) writeLoop(rest *restBatch) {
	defer s.srv.wg.Done()
	bufs := s.bufs // kept for the next write loop, handed back under mu before this one ends
	if rest != nil {
		bufs = bufs[:0]
		off := rest.off
		for _, m := range rest.batch {
			f := m.frameFor(s.deflate, s.srv.cfg.CompressThreshold)
			if off >= len(f) {
				off -= len(f)
				continue
			}
			bufs = append(bufs, f[off:])
			off = 0
		}
		var deadline time.Time
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if !closing {
			deadline = s.writeDeadline()
		}
		var (
			n   int64
			err error
		)
		if rest.locked {
			n, err = s.nc.writeFramesLocked(bufs, deadline)
			s.nc.wmu.Unlock()
		} else {
			n, err = s.nc.writeFrames(bufs, deadline)
		}
		s.wrote(rest.batch, rest.size, rest.wire, int64(rest.off)+n, err)
		*rest = restBatch{}
	}
	yielded := false
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			if s.closing {
				s.mu.Unlock()
				s.finishClose()
				return
			}
			clear(bufs[:cap(bufs)])
			s.bufs = bufs[:0]
			if !yielded {
				// Let the publisher finish its fan-out before giving up the loop: what it queues meanwhile
				// goes out in the same write, without a new goroutine.
				yielded = true
				s.mu.Unlock()
				runtime.Gosched()
				continue
			}
			s.writing = false
			s.mu.Unlock()
			return
		}
		yielded = false
		closing := s.closing // a close keeps the deadline it set when it was decided
		batch := s.queue
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()

		bufs = bufs[:0]
		size := 0
		for _, m := range batch {
			f := m.frameFor(s.deflate, s.srv.cfg.CompressThreshold)
			bufs = append(bufs, f)
			size += len(m.frame)
		}
		wire := 0
		for _, b := range bufs {
			wire += len(b)
		}
		var deadline time.Time
		if !closing {
			deadline = s.writeDeadline()
		}
		n, err := s.nc.writeFrames(bufs, deadline)
		s.wrote(batch, size, wire, n, err)
	}
}

// doneLocked releases a batch that left the queue: its size no longer counts against the bound, and its
// slice is kept for the next batch. s.mu must be held.
func (s *session) doneLocked(batch []*message, size int) {
	clear(batch)
	s.queuedBytes -= size
	if s.spare == nil {
		s.spare = batch[:0]
	}
}

// wrote accounts for a batch the write loop wrote (err nil) or failed to write after written of its wire
// bytes. A write that timed out in the middle of a frame is closed with 1013 at the next frame boundary:
// the rest of the cut frame goes out first, within the WriteTimeout the close gives, so that the client
// reads the close frame rather than a truncated stream. If even that does not go out, the connection ends
// without a close frame (midFrame).
func (s *session) wrote(batch []*message, size, wire int, written int64, err error) {
	n := len(batch)
	var cut []byte
	if err != nil {
		cut = s.cutFrame(batch, written)
	} else {
		s.srv.metrics.observeLatency(batch)
	}
	s.mu.Lock()
	s.doneLocked(batch, size)
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.close(ReasonWriteTimeout, "write timeout")
			if cut != nil {
				if _, err := s.nc.writeFrames(net.Buffers{cut}, time.Time{}); err != nil {
					s.midFrame = true
				}
			}
		} else {
			s.close(ReasonPeer, "")
		}
		s.mu.Lock()
		s.dropQueue() // a close decided earlier kept its queue; the socket cannot take it
		s.mu.Unlock()
		return
	}
	s.srv.metrics.messagesOut.Add(context.Background(), int64(n))
	s.srv.metrics.bytesOut.Add(context.Background(), int64(wire))
	s.srv.metrics.count.messagesOut.Add(int64(n))
	s.srv.metrics.count.bytesOut.Add(int64(wire))
}

// cutFrame returns the unwritten rest of the frame of batch that a write ending after written wire bytes
// cut, or nil when the write ended at a frame boundary.
func (s *session) cutFrame(batch []*message, written int64) []byte {
	for _, m := range batch {
		f := m.frameFor(s.deflate, s.srv.cfg.CompressThreshold)
		if written < int64(len(f)) {
			if written == 0 {
				return nil
			}
			return f[written:]
		}
		written -= int64(len(f))
	}
	return nil
}

// close decides to close the session with reason r: nothing more is queued, and the close frame follows
// what is already on its way to the socket, which has WriteTimeout from now to go out before the
// connection is dropped. For a slow consumer, a write timeout or a shutdown, what is queued and not yet
// written is dropped; for a policy close (1003, 1008) it still goes out first, so the client reads the
// error replies that led to the close. It is safe to call from any goroutine, more than once; the first
// reason wins.
func (s *session) close(r CloseReason, text string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.reason, s.closeText = r, closeText(text)
	if dropsQueue(r) {
		s.dropQueue()
	}
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	if r == ReasonSlowConsumer || r == ReasonWriteTimeout {
		s.srv.metrics.slowConsumers.Add(context.Background(), 1)
		s.srv.metrics.count.slowConsumers.Add(1)
	}
	if start {
		s.startWriteLoop(nil)
	}
}

// dropQueue discards what is queued and not yet being written. s.mu must be held.
func (s *session) dropQueue() {
	for _, m := range s.queue {
		s.queuedBytes -= len(m.frame)
	}
	clear(s.queue)
	s.queue = s.queue[:0]
}

// dropsQueue reports whether a close for r discards what is queued and not yet written.
func dropsQueue(r CloseReason) bool {
	switch r {
	case ReasonSlowConsumer, ReasonWriteTimeout, ReasonShutdown, ReasonPeer, ReasonOverloaded:
		return true
	}
	return false
}

// finishClose runs on the write loop once the close is decided: it writes the close frame (unless the peer
// is gone), then shuts the write side; the read loop ends when the client answers or Linger passes.
func (s *session) finishClose() {
	if s.reason == ReasonPeer || s.midFrame {
		s.nc.shutWrite()
		return
	}
	// WriteClose writes the frame through netConn and then calls its Close, which shuts the write side.
	if err := s.ws.WriteClose(s.reason.Code(), []byte(s.closeText)); err != nil {
		s.nc.shutWrite()
	}
}

// closing reports whether a close was decided.
func (s *session) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// queued returns the bytes queued now.
func (s *session) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queuedBytes
}

func (s *session) recordDisconnect(r CloseReason) {
	s.srv.metrics.count.recordClose(r)
	s.srv.metrics.disconnects.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("reason", r.String()), attribute.Int("code", int(r.Code()))))
}

// refuse closes the session at once from its read goroutine, for bytes the client sent that the read side
// refuses: what is queued is dropped and the close frame goes out now, after any frame already on its way.
func (s *session) refuse(r CloseReason, text string) {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		s.reason, s.closeText = r, closeText(text)
		s.dropQueue()
	}
	code, reason := s.reason.Code(), s.closeText
	s.mu.Unlock()
	_ = s.nc.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_ = s.ws.WriteClose(code, []byte(reason))
}

// hear records that a frame arrived from the client.
func (s *session) hear(now time.Time) {
	if s != nil {
		s.heard.Store(now.UnixNano())
	}
}

// maxSubscriptions is the subscription limit of the session: the server's, or its token's when lower.
func (s *session) maxSubscriptions(server int) int {
	if s.grant != nil && s.grant.MaxSubscriptions > 0 {
		return min(server, s.grant.MaxSubscriptions)
	}
	return server
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

// Requests: what the protocols of the routes (live.go, replay_conn.go) share to read and answer client
// messages. These run on the read goroutine.

// decodeRequest decodes data, which must hold exactly one JSON object, into v, and returns the request's
// id from *idp (-1 when absent). A malformed message or a negative id is answered and counted as malformed,
// and ok is false.
func (s *session) decodeRequest(data []byte, v any, idp **int64) (id int64, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		s.malformed(-1, CodeBadRequest, "malformed JSON: "+err.Error())
		return -1, false
	}
	if dec.More() {
		s.malformed(-1, CodeBadRequest, "one JSON object per message")
		return -1, false
	}
	if *idp == nil {
		return -1, true
	}
	if **idp < 0 {
		s.malformed(-1, CodeBadRequest, "id must not be negative")
		return -1, false
	}
	return **idp, true
}

// reply sends an error that does not count against the client.
func (s *session) reply(id int64, code, msg string) {
	s.sendBytes(schema.AppendError(nil, id, code, msg))
}

// replySymbol sends an error about one symbol of a request (the others stand); it does not count against
// the client.
func (s *session) replySymbol(id int64, symbol, code, msg string) {
	s.sendBytes(schema.AppendSymbolError(nil, id, symbol, code, msg))
}

// pong answers a ping op.
func (s *session) pong(id int64) {
	var buf [96]byte
	s.sendBytes(schema.AppendPong(buf[:0], id, schema.FormatTime(time.Now())))
}

// malformed sends an error for a malformed request and closes the connection with 1008 when the client
// sent more than MaxMalformed of them within a minute.
func (s *session) malformed(id int64, code, msg string) {
	s.srv.metrics.badRequests.Add(context.Background(), 1)
	s.srv.metrics.count.badRequests.Add(1)
	now := time.Now()
	keep := s.malformedAt[:0]
	for _, t := range s.malformedAt {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	s.malformedAt = append(keep, now)
	if max := s.srv.cfg.MaxMalformed; len(s.malformedAt) > max {
		s.close(ReasonMalformed, fmt.Sprintf("more than %d malformed messages in a minute", max))
		return
	}
	s.reply(id, code, msg)
}

// unknownOp answers an op the route does not serve (or none); more follows the op in the message.
func (s *session) unknownOp(id int64, op, more string) {
	if op == "" {
		s.malformed(id, CodeBadRequest, "missing op")
		return
	}
	s.malformed(id, CodeUnknownOp, fmt.Sprintf("unknown op %.40q", op)+more)
}

// authorize answers "unauthorized" and reports false when the connection's token may not see one of syms;
// nothing of the request is then subscribed or replayed. The connection stays open. Subscribe on /ws and
// replay on /replay decide through it, as /v1/book does through the same auth.Grant.Denied.
func (s *session) authorize(id int64, syms []string) bool {
	denied := s.grant.Denied(syms...)
	if len(denied) == 0 {
		return true
	}
	s.reply(id, CodeUnauthorized, "not authorized for: "+quoteList(denied))
	return false
}

// checkSymbolCount answers limit_exceeded and reports false for a request naming more symbols than
// MaxSymbolsPerRequest, and bad_request for one naming none.
func (s *session) checkSymbolCount(id int64, syms []string) bool {
	if len(syms) == 0 {
		s.malformed(id, CodeBadRequest, "symbols must list at least one symbol")
		return false
	}
	if max := s.srv.cfg.MaxSymbolsPerRequest; len(syms) > max {
		s.reply(id, CodeLimitExceeded, fmt.Sprintf("%d symbols in one request, limit %d", len(syms), max))
		return false
	}
	return true
}

// checkDepth answers bad_request and reports false for a depth out of range.
func (s *session) checkDepth(id int64, depth int) bool {
	if depth < 0 || depth > MaxDepth {
		s.malformed(id, CodeBadRequest, fmt.Sprintf("depth %d out of range: 1..%d, or 0 for the full book", depth, MaxDepth))
		return false
	}
	return true
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
