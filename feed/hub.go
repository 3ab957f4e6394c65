package feed

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
)

// HubConfig configures a Hub. The zero value of every field means its documented default.
type HubConfig struct {
	// ResumeHistory is how many recent updates each (symbol, depth) view keeps for resume. Default 1024.
	ResumeHistory int
	// ViewLinger is how long a view whose last subscriber left is kept, with its resume history, before it
	// is dropped. Negative: dropped at once. Default 30 s.
	ViewLinger time.Duration
	// SymbolMetrics is how many symbols get per-symbol metric series (the seconds since each one's last
	// event): the first that many to appear. Symbols come from upstream, so this bounds the series a stream
	// of new symbols can create. Default 100; negative: none.
	SymbolMetrics int
}

// Defaults of HubConfig.
const (
	DefaultResumeHistory = 1024
	DefaultViewLinger    = 30 * time.Second
	DefaultSymbolMetrics = 100
)

// Validate reports a field of c out of its range.
func (c HubConfig) Validate() error {
	if c.ResumeHistory < 0 {
		return fmt.Errorf("%w: ResumeHistory is negative", ErrConfig)
	}
	return nil
}

func (c HubConfig) withDefaults() HubConfig {
	if c.ResumeHistory == 0 {
		c.ResumeHistory = DefaultResumeHistory
	}
	if c.ViewLinger == 0 {
		c.ViewLinger = DefaultViewLinger
	}
	if c.SymbolMetrics == 0 {
		c.SymbolMetrics = DefaultSymbolMetrics
	}
	return c
}

// Hub is the registry of a feed: for every symbol its book views and their subscribers, and its trade
// subscribers. It is the engine.Publisher of the books: their writers call PublishBook, PublishTrade and
// PublishStatus, and the Hub encodes each change once per view and queues the same bytes for every
// subscriber. The live Server serves the Hub it is given (the node builds it); each replay playback owns a
// Hub of its own, whose messages carry the replay flag.
//
// Subscribing runs on the symbol's book writer (inside engine.Books.Do, see subscribeBook), so a new
// subscriber's snapshot and the updates after it come from one book version. A Hub is safe for concurrent
// use; see doc.go for its locks.
type Hub struct {
	cfg    HubConfig
	replay bool // messages carry "replay":true; nothing is timed or metered

	symbolSlots atomic.Int64 // symbols given per-symbol metric series so far (HubConfig.SymbolMetrics)

	mu      sync.RWMutex
	entries map[string]*entry

	dirtyMu sync.Mutex
	dirty   map[*entry]struct{} // entries with conflated views waiting for a flush
}

var _ engine.Publisher = (*Hub)(nil)

// NewHub returns an empty live Hub.
func NewHub(cfg HubConfig) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newHub(cfg.withDefaults(), false), nil
}

// newReplayHub returns the Hub of one replay playback: its messages carry the replay flag, a view goes with
// its last subscriber, no symbol of it is metered, and its views keep no resume history (nothing resumes a
// replay): its config does not take the defaults, so ResumeHistory stays 0.
func newReplayHub() *Hub {
	return newHub(HubConfig{ViewLinger: -1, SymbolMetrics: -1}, true)
}

func newHub(cfg HubConfig, replay bool) *Hub {
	return &Hub{cfg: cfg, replay: replay, entries: map[string]*entry{}, dirty: map[*entry]struct{}{}}
}

// entry is everything the Hub knows of one symbol. Its messages are built and queued on the symbol's single
// book writer (the Publish methods, and the Books.Do callbacks of new subscriptions and conflated flushes),
// so every subscriber of a view gets the same messages in the same order. mu guards the entry against
// connections that unsubscribe or go away from their own goroutines.
type entry struct {
	symbol string

	mu     sync.Mutex
	known  bool // the books have published the symbol
	live   bool
	seq    uint64 // last upstream seq seen (book or trade)
	views  []*view
	trades []*session

	lastEvent atomic.Int64 // unix ns of the last event published for the symbol
	metered   atomic.Bool  // the symbol has per-symbol metric series (HubConfig.SymbolMetrics)
}

// subscription is one connection's subscription to one symbol's view, or to its trades (view nil).
type subscription struct {
	s     *session
	key   subKey
	entry *entry
	view  *view
}

type subKey struct {
	channel string
	symbol  string
}

// entry returns symbol's entry, creating it.
func (h *Hub) entry(symbol string) *entry {
	h.mu.RLock()
	e := h.entries[symbol]
	h.mu.RUnlock()
	if e != nil {
		return e
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e = h.entries[symbol]; e == nil {
		e = &entry{symbol: symbol}
		h.entries[symbol] = e
	}
	return e
}

// lookup returns the entry of a symbol the books have published, or nil.
func (h *Hub) lookup(symbol string) *entry {
	h.mu.RLock()
	e := h.entries[symbol]
	h.mu.RUnlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.known {
		return nil
	}
	return e
}

// list returns every entry, in no order.
func (h *Hub) list() []*entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*entry, 0, len(h.entries))
	for _, e := range h.entries {
		out = append(out, e)
	}
	return out
}

// scratch takes a scratch from the pool for one of h's publishes.
func (h *Hub) scratch() *scratch {
	sc := scratchPool.Get().(*scratch)
	sc.replay = h.replay
	return sc
}

// PublishBook sends the change just applied to b to the book subscribers of its symbol: a snapshot to every
// view after an upstream snapshot, the visible change to each view after a delta. It runs on b's writer.
func (h *Hub) PublishBook(b *book.Book, snapshot bool) {
	e := h.entry(b.Symbol())
	sc := h.scratch()
	defer scratchPool.Put(sc)
	e.mu.Lock()
	h.touch(e)
	wasLive := e.live
	e.known, e.live = true, b.Live()
	e.seq = max(e.seq, b.Seq())
	var dirty bool
	if snapshot {
		var status *message
		if !wasLive && len(e.views) > 0 {
			status = newMessage(schema.AppendStatus(sc.buf[:0], b.Symbol(), schema.StatusLive, h.replay))
		}
		e.publishSnapshot(b, wasLive, sc, status)
	} else {
		dirty = e.publishDelta(b, sc, h.cfg.ResumeHistory)
	}
	e.mu.Unlock()
	if dirty {
		h.dirtyMu.Lock()
		h.dirty[e] = struct{}{}
		h.dirtyMu.Unlock()
	}
}

// PublishTrade sends a trade to the trade subscribers of its symbol. It runs on the symbol's writer.
func (h *Hub) PublishTrade(b *book.Book, ev *schema.Event) {
	e := h.entry(ev.Symbol)
	e.mu.Lock()
	defer e.mu.Unlock()
	h.touch(e)
	e.known = true
	e.seq = max(e.seq, ev.Seq)
	if len(e.trades) == 0 {
		return
	}
	var buf [512]byte
	m := newMessage(schema.AppendTrade(buf[:0], ev, h.replay))
	if !h.replay {
		m.event, m.channel = ev.Time, channelTrades
	}
	for _, sess := range e.trades {
		sess.send(m)
	}
}

// PublishStatus records that a symbol appeared or its book went stale, and tells its book subscribers
// when a live book went stale. It runs on the symbol's writer.
func (h *Hub) PublishStatus(b *book.Book) {
	e := h.entry(b.Symbol())
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.known { // the symbol's first event, one the book did not apply
		h.touch(e)
	}
	e.known = true
	wasLive := e.live
	e.live = b.Live()
	if !wasLive || e.live {
		return
	}
	var buf [128]byte
	m := newMessage(schema.AppendStatus(buf[:0], b.Symbol(), schema.StatusStale, h.replay))
	for _, v := range e.views {
		v.dirty = false
		v.fanout(m)
	}
}

// touch records an event of e's symbol for the seconds-since-last-event gauge, and gives the symbol its
// per-symbol series while there are slots left (HubConfig.SymbolMetrics). e.mu is held.
func (h *Hub) touch(e *entry) {
	if h.replay {
		return
	}
	max := int64(h.cfg.SymbolMetrics)
	if !e.known && h.symbolSlots.Load() < max && h.symbolSlots.Add(1) <= max {
		e.metered.Store(true)
	}
	if e.metered.Load() { // only a metered symbol's age is observed
		e.lastEvent.Store(time.Now().UnixNano())
	}
}

// observeEventAges calls observe with the seconds since the last event of each metered symbol.
func (h *Hub) observeEventAges(now time.Time, observe func(symbol string, age float64)) {
	for _, e := range h.list() {
		if e.metered.Load() {
			observe(e.symbol, max(0, float64(now.UnixNano()-e.lastEvent.Load())/1e9))
		}
	}
}

// subscribeBook subscribes sess to e's view k. It runs on the book writer of e's symbol, inside Books.Do,
// with b its book: the snapshot (or, with hasResume, the updates after resume) is queued there, so no update
// can come between it and the next one. It returns the subscription, or nil when sess is closing.
func (h *Hub) subscribeBook(b *book.Book, sess *session, e *entry, k viewKey, resume uint64, hasResume bool) *subscription {
	sc := h.scratch()
	defer scratchPool.Put(sc)
	e.mu.Lock()
	defer e.mu.Unlock()
	if sess.isClosing() {
		return nil
	}
	e.live = b.Live()
	sub, created := e.addBookSub(sess, k, b.Seq())
	if created && k.interval > 0 {
		sub.view.captureSent(b)
	}
	if !e.live {
		var buf [128]byte
		sess.sendBytes(schema.AppendStatus(buf[:0], e.symbol, schema.StatusStale, h.replay))
		return sub
	}
	v := sub.view
	if hasResume && k.interval == 0 {
		if msgs, ok := v.since(resume); ok {
			for _, m := range msgs {
				sess.send(m)
			}
			return sub
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
	return sub
}

// subscribeReplayBook subscribes sess to symbol's book in a playback's hub h, fed by books: a snapshot of the
// book as it stands now, or, for a symbol that has not appeared yet, "stale" now and its first snapshot
// later. The subscription lives as long as the hub. It returns ctx's error when the playback was stopped.
func (h *Hub) subscribeReplayBook(ctx context.Context, books engine.Books, sess *session, symbol string, depth int) error {
	e := h.entry(symbol)
	k := viewKey{depth: depth}
	err := books.Do(ctx, symbol, func(b *book.Book) { h.subscribeBook(b, sess, e, k, 0, false) })
	if err == nil || ctx.Err() != nil {
		return ctx.Err()
	}
	// Not known yet: nothing publishes for it until the playback runs, which is after this.
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addBookSub(sess, k, 0)
	var buf [128]byte
	sess.sendBytes(schema.AppendStatus(buf[:0], symbol, schema.StatusStale, true))
	return nil
}

// addBookSub adds a subscription of sess to view k of e, creating the view (its last sent seq lastSent)
// when there is none. e.mu must be held.
func (e *entry) addBookSub(sess *session, k viewKey, lastSent uint64) (sub *subscription, created bool) {
	v := e.viewFor(k)
	if v == nil {
		v = &view{key: k, lastSent: lastSent}
		e.views = append(e.views, v)
		created = true
	}
	v.idleSince = time.Time{}
	sub = &subscription{s: sess, key: subKey{schema.ChannelBook, e.symbol}, entry: e, view: v}
	v.subs = append(v.subs, sub)
	return sub, created
}

// subscribeTrades subscribes sess to the trades of entries and queues reply (unless nil) while holding their
// locks, so no trade published after the reply can miss the subscription and none comes before it.
func (h *Hub) subscribeTrades(sess *session, entries []*entry, reply []byte) []*subscription {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.symbol, b.symbol) })
	for _, e := range entries {
		e.mu.Lock()
	}
	subs := make([]*subscription, 0, len(entries))
	for _, e := range entries {
		if !slices.Contains(e.trades, sess) {
			e.trades = append(e.trades, sess)
		}
		subs = append(subs, &subscription{s: sess, key: subKey{schema.ChannelTrades, e.symbol}, entry: e})
	}
	if reply != nil {
		sess.sendBytes(reply)
	}
	for _, e := range entries {
		e.mu.Unlock()
	}
	return subs
}

// unsubscribe removes sub from its view or trade list. A view left without subscribers lingers with its
// resume history for ViewLinger (conflated views go at once).
func (h *Hub) unsubscribe(sub *subscription) {
	e := sub.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	if sub.view == nil {
		e.trades = slices.DeleteFunc(e.trades, func(x *session) bool { return x == sub.s })
		return
	}
	v := sub.view
	v.subs = slices.DeleteFunc(v.subs, func(x *subscription) bool { return x == sub })
	if len(v.subs) == 0 {
		if v.key.interval > 0 || h.cfg.ViewLinger < 0 {
			e.removeView(v)
		} else {
			v.idleSince = time.Now() // kept for a while, so a client that reconnects can resume
		}
	}
}

// flushConflated runs every due conflated view, on its book's writer through books. Server.Run calls it on
// its ticker.
func (h *Hub) flushConflated(ctx context.Context, books engine.Books, now time.Time) {
	h.dirtyMu.Lock()
	entries := make([]*entry, 0, len(h.dirty))
	for e := range h.dirty {
		entries = append(entries, e)
	}
	h.dirtyMu.Unlock()
	for _, e := range entries {
		pending := false
		err := books.Do(ctx, e.symbol, func(b *book.Book) {
			sc := h.scratch()
			defer scratchPool.Put(sc)
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, v := range e.views {
				if !v.dirty || v.key.interval == 0 {
					continue
				}
				if !e.live || !b.Live() {
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
			h.dirtyMu.Lock()
			// A publish may have marked it dirty again meanwhile; it is checked again on the next tick.
			if !e.anyDirty() {
				delete(h.dirty, e)
			}
			h.dirtyMu.Unlock()
		}
	}
}

// dropIdleViews drops the views that have had no subscriber for ViewLinger.
func (h *Hub) dropIdleViews(now time.Time) {
	for _, e := range h.list() {
		e.mu.Lock()
		e.views = slices.DeleteFunc(e.views, func(v *view) bool {
			return len(v.subs) == 0 && !v.idleSince.IsZero() && now.Sub(v.idleSince) >= h.cfg.ViewLinger
		})
		e.mu.Unlock()
	}
}

// symbolInfo is one row of /v1/symbols.
type symbolInfo struct {
	Symbol string `json:"symbol"`
	Status string `json:"status"`
	Seq    uint64 `json:"seq"`
}

// symbols lists the symbols the books have published, by name.
func (h *Hub) symbols() []symbolInfo {
	entries := h.list()
	out := make([]symbolInfo, 0, len(entries))
	for _, e := range entries {
		e.mu.Lock()
		if e.known {
			st := schema.StatusStale
			if e.live {
				st = schema.StatusLive
			}
			out = append(out, symbolInfo{Symbol: e.symbol, Status: st, Seq: e.seq})
		}
		e.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

// subscriptionCount counts the subscriptions to book views and to trades.
func (h *Hub) subscriptionCount() (books, trades int) {
	for _, e := range h.list() {
		e.mu.Lock()
		trades += len(e.trades)
		for _, v := range e.views {
			books += len(v.subs)
		}
		e.mu.Unlock()
	}
	return books, trades
}

func (e *entry) viewFor(k viewKey) *view {
	for _, v := range e.views {
		if v.key == k {
			return v
		}
	}
	return nil
}

func (e *entry) removeView(v *view) {
	e.views = slices.DeleteFunc(e.views, func(x *view) bool { return x == v })
}

func (e *entry) anyDirty() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range e.views {
		if v.dirty {
			return true
		}
	}
	return false
}

// publishSnapshot sends every view a fresh snapshot after an upstream snapshot. wasLive false means the
// book recovers from stale (or goes live for the first time): a "live" status goes first.
func (e *entry) publishSnapshot(b *book.Book, wasLive bool, sc *scratch, status *message) {
	for _, v := range e.views {
		if !wasLive {
			v.fanout(status)
		}
		v.lastSent = b.Seq()
		v.history = v.history[:0]
		v.snapshot = sc.timed(b.Time(), sc.snapshotOf(b, v.key.depth, b.Seq()))
		if v.key.interval > 0 {
			v.captureSent(b)
			v.dirty = false
		}
		v.fanout(v.snapshot)
	}
}

// publishDelta sends each every-update view the change it can see; conflated views are marked dirty.
// It reports whether a conflated view needs a flush.
func (e *entry) publishDelta(b *book.Book, sc *scratch, historyCap int) (dirty bool) {
	for _, v := range e.views {
		if v.key.interval > 0 {
			v.dirty = true
			dirty = true
			continue
		}
		sc.bids, sc.asks = b.ViewDiff(v.key.depth, sc.bids[:0], sc.asks[:0])
		if len(sc.bids) == 0 && len(sc.asks) == 0 {
			continue
		}
		m := sc.update(b, v)
		v.remember(histEntry{prevSeq: v.lastSent, seq: b.Seq(), msg: m}, historyCap)
		v.lastSent = b.Seq()
		v.snapshot = nil
		v.fanout(m)
	}
	return dirty
}
