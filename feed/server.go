package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"github.com/lxzan/gws"
)

// Books gives the feed access to the books it serves. The ingest side implements it.
type Books interface {
	// Do runs fn on the single writer of symbol's book, between two events, and waits for it. Whatever fn
	// queues for clients cannot be overtaken by a later change of that book. When Do returns an error
	// (ctx ended first, unknown symbol, closed), fn has not run and never will, so fn may touch state the
	// caller owns.
	Do(ctx context.Context, symbol string, fn func(b *book.Book)) error
}

// Server is the WebSocket feed and the HTTP endpoints beside it. Its Publish methods are called by the
// book writers; ServeHTTP serves clients. Create it with New, run its timers with Run, stop it with
// Shutdown.
type Server struct {
	cfg     Config
	books   Books
	log     *slog.Logger
	metrics *metrics
	up      *gws.Upgrader
	mux     *http.ServeMux
	guard   *guard

	hubsMu sync.RWMutex
	hubs   map[string]*hub

	sessMu   sync.Mutex
	sessions map[*session]struct{}
	draining bool

	dirtyMu sync.Mutex
	dirty   map[*hub]struct{} // hubs with conflated views waiting for a flush

	flushers    []*flushShard // GOMAXPROCS at New
	nextFlusher atomic.Uint32

	wg      sync.WaitGroup // write loops, flushers and closers
	readers sync.WaitGroup // connection read loops
	conns   atomic.Int64

	replay  bool         // a replay's private hubs: messages carry "replay":true
	replays atomic.Int64 // replays running (MaxReplays)
}

// New returns a Server reading books through books.
func New(cfg Config, books Books) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg.withDefaults(), books: books, hubs: map[string]*hub{}, sessions: map[*session]struct{}{},
		dirty: map[*hub]struct{}{}}
	s.log = s.cfg.Logger
	for range runtime.GOMAXPROCS(0) {
		s.flushers = append(s.flushers, &flushShard{srv: s})
	}
	s.guard = newGuard(s.cfg.Guard)
	m, err := newMetrics(s.cfg.Meter, s)
	if err != nil {
		return nil, fmt.Errorf("feed metrics: %w", err)
	}
	s.metrics = m
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

func (s *Server) hub(symbol string) *hub {
	s.hubsMu.RLock()
	h := s.hubs[symbol]
	s.hubsMu.RUnlock()
	if h != nil {
		return h
	}
	s.hubsMu.Lock()
	defer s.hubsMu.Unlock()
	if h = s.hubs[symbol]; h == nil {
		h = &hub{symbol: symbol}
		s.hubs[symbol] = h
	}
	return h
}

// lookup returns the hub of a symbol the ingest side has published, or nil.
func (s *Server) lookup(symbol string) *hub {
	s.hubsMu.RLock()
	defer s.hubsMu.RUnlock()
	if h := s.hubs[symbol]; h != nil && h.isKnown() {
		return h
	}
	return nil
}

func (h *hub) isKnown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.known
}

// PublishBook sends the change just applied to b to the book subscribers of its symbol: a snapshot to every
// view after an upstream snapshot, the visible change to each view after a delta. It runs on b's writer.
func (s *Server) PublishBook(b *book.Book, snapshot bool) {
	h := s.hub(b.Symbol())
	sc := s.scratch()
	defer scratchPool.Put(sc)
	h.mu.Lock()
	s.touch(h)
	wasLive := h.live
	h.known, h.live = true, b.Live()
	h.seq = max(h.seq, b.Seq())
	var dirty bool
	if snapshot {
		var status *message
		if !wasLive && len(h.views) > 0 {
			status = newMessage(schema.AppendStatus(sc.buf[:0], b.Symbol(), schema.StatusLive, s.replay))
		}
		h.publishSnapshot(b, wasLive, sc, status)
	} else {
		dirty = h.publishDelta(b, sc, s.cfg.ResumeHistory)
	}
	h.mu.Unlock()
	if dirty {
		s.dirtyMu.Lock()
		s.dirty[h] = struct{}{}
		s.dirtyMu.Unlock()
	}
}

// PublishTrade sends a trade to the trade subscribers of its symbol. It runs on the symbol's writer.
func (s *Server) PublishTrade(b *book.Book, e *schema.Event) {
	h := s.hub(e.Symbol)
	h.mu.Lock()
	defer h.mu.Unlock()
	s.touch(h)
	h.known = true
	h.seq = max(h.seq, e.Seq)
	if len(h.trades) == 0 {
		return
	}
	var buf [512]byte
	m := newMessage(schema.AppendTrade(buf[:0], e, s.replay))
	if !s.replay {
		m.event, m.channel = e.Time, channelTrades
	}
	for _, sess := range h.trades {
		sess.send(m)
	}
}

// PublishStatus records that a symbol appeared or its book went stale, and tells its book subscribers
// when a live book went stale. It runs on the symbol's writer.
func (s *Server) PublishStatus(b *book.Book) {
	h := s.hub(b.Symbol())
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.known { // the symbol's first event, one the book did not apply
		s.touch(h)
	}
	h.known = true
	wasLive := h.live
	h.live = b.Live()
	if !wasLive || h.live {
		return
	}
	var buf [128]byte
	m := newMessage(schema.AppendStatus(buf[:0], b.Symbol(), schema.StatusStale, s.replay))
	for _, v := range h.views {
		v.dirty = false
		v.fanout(m)
	}
}

// flushConflated runs every due conflated view. It is called by Run's ticker.
func (s *Server) flushConflated(ctx context.Context, now time.Time) {
	s.dirtyMu.Lock()
	hubs := make([]*hub, 0, len(s.dirty))
	for h := range s.dirty {
		hubs = append(hubs, h)
	}
	s.dirtyMu.Unlock()
	for _, h := range hubs {
		pending := false
		err := s.books.Do(ctx, h.symbol, func(b *book.Book) {
			sc := s.scratch()
			defer scratchPool.Put(sc)
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, v := range h.views {
				if !v.dirty || v.key.interval == 0 {
					continue
				}
				if !h.live || !b.Live() {
					v.dirty = false
					continue
				}
				if now.Before(v.due) {
					pending = true
					continue
				}
				v.flush(b, sc, now)
			}
		})
		if err == nil && !pending {
			s.dirtyMu.Lock()
			// A publish may have marked it dirty again meanwhile; it is checked again on the next tick.
			if !h.anyDirty() {
				delete(s.dirty, h)
			}
			s.dirtyMu.Unlock()
		}
	}
}

func (h *hub) anyDirty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.views {
		if v.dirty {
			return true
		}
	}
	return false
}

// Run sends heartbeats and flushes conflated views until ctx is done.
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
			s.flushConflated(ctx, now)
		case now := <-sweep.C:
			s.dropIdleViews(now)
		case now := <-hb.C:
			var buf [96]byte
			m := newMessage(schema.AppendHeartbeat(buf[:0], schema.FormatTime(now)))
			for _, sess := range s.sessionList() {
				sess.send(m)
			}
		}
	}
}

// dropIdleViews drops the views that have had no subscriber for ViewLinger.
func (s *Server) dropIdleViews(now time.Time) {
	s.hubsMu.RLock()
	defer s.hubsMu.RUnlock()
	for _, h := range s.hubs {
		h.mu.Lock()
		h.views = slices.DeleteFunc(h.views, func(v *view) bool {
			return len(v.subs) == 0 && !v.idleSince.IsZero() && now.Sub(v.idleSince) >= s.cfg.ViewLinger
		})
		h.mu.Unlock()
	}
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

// Shutdown is in drain.go.

// symbolInfo is one row of /v1/symbols.
type symbolInfo struct {
	Symbol string `json:"symbol"`
	Status string `json:"status"`
	Seq    uint64 `json:"seq"`
}

func (s *Server) symbols() []symbolInfo {
	s.hubsMu.RLock()
	hubs := make([]*hub, 0, len(s.hubs))
	for _, h := range s.hubs {
		hubs = append(hubs, h)
	}
	s.hubsMu.RUnlock()
	out := make([]symbolInfo, 0, len(hubs))
	for _, h := range hubs {
		h.mu.Lock()
		if h.known {
			st := schema.StatusStale
			if h.live {
				st = schema.StatusLive
			}
			out = append(out, symbolInfo{Symbol: h.symbol, Status: st, Seq: h.seq})
		}
		h.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

// subscribeBook subscribes sess to symbol's view k on the book's writer: the snapshot (or the updates
// after resume) is queued there, so no update can come between it and the next one.
func (s *Server) subscribeBook(ctx context.Context, sess *session, h *hub, k viewKey, resume uint64, hasResume bool) error {
	return s.books.Do(ctx, h.symbol, func(b *book.Book) {
		sc := s.scratch()
		defer scratchPool.Put(sc)
		h.mu.Lock()
		defer h.mu.Unlock()
		if sess.isClosing() {
			return
		}
		h.live = b.Live()
		v := h.viewFor(k)
		if v == nil {
			v = &view{key: k, lastSent: b.Seq()}
			if k.interval > 0 {
				v.captureSent(b)
			}
			h.views = append(h.views, v)
		}
		v.idleSince = time.Time{}
		sub := &subscription{s: sess, key: subKey{schema.ChannelBook, h.symbol}, view: v}
		v.subs = append(v.subs, sub)
		sess.subs[sub.key] = sub
		if !h.live {
			var buf [128]byte
			sess.send(newMessage(schema.AppendStatus(buf[:0], h.symbol, schema.StatusStale, s.replay)))
			return
		}
		if hasResume && k.interval == 0 {
			if msgs, ok := v.since(resume); ok {
				for _, m := range msgs {
					sess.send(m)
				}
				return
			}
		}
		if v.snapshot == nil {
			if k.interval > 0 {
				v.snapshot = v.sentSnapshot(b, sc)
			} else {
				v.snapshot = sc.snapshotOf(b, k.depth, v.lastSent)
			}
		}
		sess.send(v.snapshot)
	})
}

// subscribeTrades subscribes sess to the trades of hubs and queues the reply while holding the hubs'
// locks, so no trade published after the reply can miss the subscription and none comes before it.
func (s *Server) subscribeTrades(sess *session, hubs []*hub, reply []byte) {
	hubs = slices.Clone(hubs)
	slices.SortFunc(hubs, func(a, b *hub) int { return strings.Compare(a.symbol, b.symbol) })
	for _, h := range hubs {
		h.mu.Lock()
	}
	for _, h := range hubs {
		if !slices.Contains(h.trades, sess) {
			h.trades = append(h.trades, sess)
		}
		sub := &subscription{s: sess, key: subKey{schema.ChannelTrades, h.symbol}}
		sess.subs[sub.key] = sub
	}
	sess.sendBytes(reply)
	for _, h := range hubs {
		h.mu.Unlock()
	}
}

// unsubscribe removes one subscription of sess.
func (s *Server) unsubscribe(sub *subscription) {
	h := s.hub(sub.key.symbol)
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(sub.s.subs, sub.key)
	if sub.view == nil {
		h.trades = slices.DeleteFunc(h.trades, func(x *session) bool { return x == sub.s })
		return
	}
	v := sub.view
	v.subs = slices.DeleteFunc(v.subs, func(x *subscription) bool { return x == sub })
	if len(v.subs) == 0 {
		if v.key.interval > 0 || s.cfg.ViewLinger < 0 {
			h.removeView(v)
		} else {
			v.idleSince = time.Now() // kept for a while, so a client that reconnects can resume
		}
	}
}

// errDraining refuses handshakes during Shutdown.
var errDraining = errors.New("server is shutting down")

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

func (s *Server) unregister(sess *session) {
	if sess.rp != nil {
		sess.rp.close()
	}
	s.sessMu.Lock()
	delete(s.sessions, sess)
	s.sessMu.Unlock()
	for _, sub := range sess.subList() {
		s.unsubscribe(sub)
	}
}

// subList is a copy of the session's subscriptions, in a stable order.
func (sess *session) subList() []*subscription {
	out := make([]*subscription, 0, len(sess.subs))
	for _, sub := range sess.subs {
		out = append(out, sub)
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.Compare(out[i].key.channel+out[i].key.symbol, out[j].key.channel+out[j].key.symbol) < 0
	})
	return out
}
