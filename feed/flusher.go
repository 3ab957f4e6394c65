package feed

import (
	"context"
	"runtime"
	"sync"
)

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux); a longer batch goes to the
// connection's own write loop.
const maxIovecs = 1024

// flushShard writes the queues of the plain TCP connections assigned to it (GOMAXPROCS shards per
// Server, connections dealt round-robin). A connection whose queue becomes non-empty joins the shard's
// dirty list; the shard's flusher goroutine (started when the list becomes non-empty, ended when a
// round finds it empty, so an idle server holds none) takes the whole list per round and gives each
// connection one non-blocking writev of everything queued for it at that moment: nothing waits for a
// timer, an update to an idle connection is written as soon as the flusher starts. A connection that
// still has messages queued after its write joins the next round, so under load each write carries what
// was queued while the round went through the other connections, with no goroutine or wake-up per
// connection. Between rounds the flusher yields once, so that publishers queue what they have before the
// next round takes it. Whatever a non-blocking write cannot finish (a full socket, an error, a batch over
// maxIovecs, the connection's lock held for a control frame, a close) goes to the connection's own write
// loop with the rest of the batch, which writes it under WriteTimeout: a slow socket never holds up the
// others, and the send queue bound applies as everywhere (queued bytes count until written).
type flushShard struct {
	srv *Server

	mu      sync.Mutex
	dirty   []*session
	spare   []*session
	running bool

	// The running flusher's, kept between runs so that starting one allocates nothing.
	round flushRound
	work  []*session
}

// add puts s, whose write side it now owns (s.writing), on the shard's list, starting the flusher when
// it is idle.
func (f *flushShard) add(s *session) {
	f.mu.Lock()
	f.dirty = append(f.dirty, s)
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		f.srv.wg.Add(1)
		go f.run()
	}
}

// flushRound is a flusher's state between rounds.
type flushRound struct {
	iov        iovecs
	again      []*session // connections with more queued after this round's write
	msgs, wire int64      // written this round, for the metrics
}

func (f *flushShard) run() {
	defer f.srv.wg.Done()
	r, work := &f.round, f.work
	for {
		f.mu.Lock()
		if len(f.dirty) == 0 && len(r.again) == 0 {
			f.work = work[:0] // the next flusher starts only once running is false
			f.running = false
			f.mu.Unlock()
			return
		}
		work = append(append(work[:0], r.again...), f.dirty...)
		clear(f.dirty)
		f.dirty, f.spare = f.spare[:0], f.dirty[:0]
		f.mu.Unlock()
		clear(r.again)
		r.again = r.again[:0]
		for i, s := range work {
			s.flushOnce(r)
			work[i] = nil
		}
		clear(r.iov)
		if r.msgs > 0 {
			m := f.srv.metrics
			m.messagesOut.Add(context.Background(), r.msgs)
			m.bytesOut.Add(context.Background(), r.wire)
			m.count.messagesOut.Add(r.msgs)
			m.count.bytesOut.Add(r.wire)
			r.msgs, r.wire = 0, 0
		}
		runtime.Gosched() // let the publishers queue more for the next round
	}
}

// flushOnce gives s one non-blocking write of everything queued for it. The flusher owns s's write side.
func (s *session) flushOnce(r *flushRound) {
	s.mu.Lock()
	switch {
	case s.closing: // the write loop writes what is left and the close frame
		s.mu.Unlock()
		s.startWriteLoop(nil)
		return
	case len(s.queue) == 0:
		s.writing = false
		s.mu.Unlock()
		return
	}
	batch := s.queue
	s.queue, s.spare = s.spare[:0], nil
	s.mu.Unlock()

	r.iov = r.iov[:0]
	size, wire := 0, 0
	for _, m := range batch {
		fr := m.frameFor(s.deflate, s.srv.cfg.CompressThreshold)
		if len(batch) <= maxIovecs {
			r.iov = r.iov.add(fr)
		}
		size += len(m.frame)
		wire += len(fr)
	}
	if len(batch) > maxIovecs || !s.nc.wmu.TryLock() {
		s.rest = restBatch{batch: batch, size: size, wire: wire}
		s.startWriteLoop(&s.rest)
		return
	}
	n := 0
	if !s.nc.shut.Load() {
		n = s.nc.tryWritev(s.raw, r.iov)
	}
	if n < wire { // the write loop takes over, with the connection's lock
		s.rest = restBatch{batch: batch, size: size, wire: wire, off: n, locked: true}
		s.startWriteLoop(&s.rest)
		return
	}
	s.nc.wmu.Unlock()
	s.srv.metrics.observeLatency(batch)
	r.msgs += int64(len(batch))
	r.wire += int64(wire)
	s.mu.Lock()
	s.doneLocked(batch, size)
	switch {
	case s.closing:
		s.mu.Unlock()
		s.startWriteLoop(nil)
	case len(s.queue) > 0:
		s.mu.Unlock()
		r.again = append(r.again, s)
	default:
		s.writing = false
		s.mu.Unlock()
	}
}
