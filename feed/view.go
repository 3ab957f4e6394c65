package feed

import (
	"sync"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// viewKey identifies a view: subscriptions with the same depth and interval share one.
type viewKey struct {
	depth    int           // 0: full book
	interval time.Duration // 0: every update
}

// view is one way of looking at a symbol's book, shared by its subscribers: every message is encoded once
// for all of them. lastSent is the seq of the last book message the view sent; the view's visible content
// has not changed since, so a newcomer's snapshot is stamped lastSent and the next update's prev_seq
// matches it.
type view struct {
	key      viewKey
	subs     []*subscription
	lastSent uint64
	snapshot *message // snapshot at lastSent, built on demand

	// every-update views: recent updates for resume, oldest first
	history []histEntry
	// idleSince is when the last subscriber left (zero while it has some); an idle view keeps its
	// history for HubConfig.ViewLinger so that clients that reconnect can resume.
	idleSince time.Time

	// conflated views: the levels last sent, and when the next flush may happen
	sentBids, sentAsks []book.Level
	sentPexp, sentSexp uint8
	dirty              bool
	due                time.Time
}

// histEntry is one update of an every-update view's resume history.
type histEntry struct {
	prevSeq, seq uint64
	msg          *message
}

// fanout queues m for every subscriber of v.
func (v *view) fanout(m *message) {
	for _, sub := range v.subs {
		sub.s.send(m)
	}
}

// remember keeps e in v's resume history, at most capacity updates (the oldest go first).
func (v *view) remember(e histEntry, capacity int) {
	if capacity <= 0 {
		return
	}
	if len(v.history) >= capacity {
		n := copy(v.history, v.history[len(v.history)-capacity+1:])
		clear(v.history[n:])
		v.history = v.history[:n]
	}
	v.history = append(v.history, e)
}

// since returns the updates after seq, or ok false when the history does not reach back that far.
func (v *view) since(seq uint64) (out []*message, ok bool) {
	if seq == v.lastSent {
		return nil, true
	}
	for i, e := range v.history {
		if e.prevSeq == seq {
			for _, e := range v.history[i:] {
				out = append(out, e.msg)
			}
			return out, true
		}
	}
	return nil, false
}

// captureSent records b's top levels as what a conflated view has sent.
func (v *view) captureSent(b *book.Book) {
	v.sentBids = b.Top(book.Bids, v.key.depth, v.sentBids[:0])
	v.sentAsks = b.Top(book.Asks, v.key.depth, v.sentAsks[:0])
	v.sentPexp, v.sentSexp = b.PriceExp(), b.SizeExp()
}

// flush sends a conflated view the net change between what it sent and b now. It reports whether a message
// went out.
func (v *view) flush(b *book.Book, sc *scratch, now time.Time) bool {
	v.dirty = false
	v.rescaleSent(b.PriceExp(), b.SizeExp())
	nb := b.Top(book.Bids, v.key.depth, nil)
	na := b.Top(book.Asks, v.key.depth, nil)
	sc.bids = diffLevels(sc.bids[:0], v.sentBids, nb, true)
	sc.asks = diffLevels(sc.asks[:0], v.sentAsks, na, false)
	if len(sc.bids) == 0 && len(sc.asks) == 0 {
		return false
	}
	m := sc.update(b, v)
	v.sentBids, v.sentAsks = nb, na
	v.lastSent = b.Seq()
	v.snapshot = nil
	v.due = now.Add(v.key.interval)
	v.fanout(m)
	return true
}

// rescaleSent brings the sent levels to the book's current scales (the book only ever adds digits).
func (v *view) rescaleSent(pexp, sexp uint8) {
	if pexp == v.sentPexp && sexp == v.sentSexp {
		return
	}
	pm, sm := schema.Pow10(pexp-v.sentPexp), schema.Pow10(sexp-v.sentSexp)
	for _, side := range [][]book.Level{v.sentBids, v.sentAsks} {
		for i := range side {
			side[i].Price *= pm
			side[i].Size *= sm
		}
	}
	v.sentPexp, v.sentSexp = pexp, sexp
}

// sentSnapshot builds a snapshot of what a conflated view last sent, stamped lastSent.
func (v *view) sentSnapshot(b *book.Book, sc *scratch) *message {
	v.rescaleSent(b.PriceExp(), b.SizeExp())
	n := schema.ChecksumDepth
	if v.key.depth > 0 && v.key.depth < n {
		n = v.key.depth
	}
	cb, ca := v.sentBids[:min(n, len(v.sentBids))], v.sentAsks[:min(n, len(v.sentAsks))]
	return sc.bookMessage(&schema.BookMessage{Type: schema.TypeSnapshot, Symbol: b.Symbol(), Seq: v.lastSent, Time: b.Time(),
		PriceExp: b.PriceExp(), SizeExp: b.SizeExp(), Bids: v.sentBids, Asks: v.sentAsks,
		Checksum: schema.Checksum(cb, ca, b.PriceExp(), b.SizeExp())})
}

// diffLevels appends the levels that turn side a into side b (both best first): changed or new levels
// with their size in b, levels missing from b with size 0. Output is best first.
func diffLevels(dst, a, b []book.Level, bids bool) []book.Level {
	better := func(x, y int64) bool {
		if bids {
			return x > y
		}
		return x < y
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && better(a[i].Price, b[j].Price)):
			dst = append(dst, book.Level{Price: a[i].Price})
			i++
		case i == len(a) || better(b[j].Price, a[i].Price):
			dst = append(dst, b[j])
			j++
		default:
			if a[i].Size != b[j].Size {
				dst = append(dst, b[j])
			}
			i++
			j++
		}
	}
	return dst
}

// scratch holds reusable buffers for one publish; it is owned by the goroutine holding the entry's lock.
type scratch struct {
	bids, asks []book.Level
	buf        []byte
	replay     bool // messages carry "replay":true
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

// bookMessage encodes m and returns it framed.
func (sc *scratch) bookMessage(m *schema.BookMessage) *message {
	m.Replay = sc.replay
	sc.buf = schema.AppendBookMessage(sc.buf[:0], m)
	return newMessage(sc.buf)
}

// update builds view v's next update from b: the levels in sc.bids and sc.asks, following v.lastSent.
func (sc *scratch) update(b *book.Book, v *view) *message {
	return sc.timed(b.Time(), sc.bookMessage(&schema.BookMessage{Type: schema.TypeUpdate, Symbol: b.Symbol(), Seq: b.Seq(), PrevSeq: v.lastSent,
		Time: b.Time(), PriceExp: b.PriceExp(), SizeExp: b.SizeExp(), Bids: sc.bids, Asks: sc.asks, Checksum: b.Checksum(v.key.depth)}))
}

// timed marks m, a live message made when its event was published, for the latency histogram. Replayed
// messages carry recorded times and are not timed.
func (sc *scratch) timed(event string, m *message) *message {
	if !sc.replay {
		m.event, m.channel = event, channelBook
	}
	return m
}

// snapshotOf builds a snapshot of b for a view of the given depth, stamped seq.
func (sc *scratch) snapshotOf(b *book.Book, depth int, seq uint64) *message {
	sc.bids = b.Top(book.Bids, depth, sc.bids[:0])
	sc.asks = b.Top(book.Asks, depth, sc.asks[:0])
	return sc.bookMessage(&schema.BookMessage{Type: schema.TypeSnapshot, Symbol: b.Symbol(), Seq: seq, Time: b.Time(),
		PriceExp: b.PriceExp(), SizeExp: b.SizeExp(), Bids: sc.bids, Asks: sc.asks, Checksum: b.Checksum(depth)})
}
