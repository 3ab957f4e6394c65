package sim

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Event is one record for the Kafka topic: Key is the symbol, Value the JSON event of docs/protocol.md §1 and
// Time the event's time (the same instant as its "time" field).
type Event struct {
	Key   string
	Value []byte
	Time  time.Time
}

// Exchange generates the order flow of a simulated exchange. Its methods are safe for concurrent use, but the
// stream is only deterministic when a single goroutine calls Next.
type Exchange struct {
	mu      sync.Mutex
	cfg     Config
	rng     *rand.Rand
	books   []*book
	byName  map[string]*book
	cum     []int64 // cumulative selection weights
	now     time.Time
	count   uint64
	tradeID uint64
	buf     []byte
	// pTrade is the chance that an event free to be anything is a trade. Each trade brings one delta, so
	// the share of trades among those events must be TradeRatio/(1-TradeRatio) for it to be TradeRatio
	// overall.
	pTrade float64
}

type level struct{ price, size int64 }

// book is one symbol's order book in ticks and lots. bids are sorted by price descending, asks ascending, so
// index 0 is the best level of each side.
type book struct {
	spec
	bids, asks []level
	seq        uint64
	sinceSnap  int
	pending    []change // the delta that follows a trade: the traded size leaves the book
}

// change is one level of a delta: size 0 deletes.
type change struct {
	ask         bool
	price, size int64
}

// New returns an exchange for cfg, with the defaults applied to its zero fields.
func New(cfg Config) (*Exchange, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	x := &Exchange{
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6465707468636173)),
		byName: make(map[string]*book, cfg.Symbols),
		now:    Epoch,
		pTrade: cfg.TradeRatio / (1 - cfg.TradeRatio),
	}
	var total int64
	for i := range cfg.Symbols {
		b := &book{spec: specFor(i)}
		x.initBook(b)
		x.books = append(x.books, b)
		x.byName[b.name] = b
		total += 1_000_000 / int64(i+2) // busier symbols first, like real venues
		x.cum = append(x.cum, total)
	}
	return x, nil
}

// Symbols returns the symbol names in order.
func (x *Exchange) Symbols() []string {
	out := make([]string, len(x.books))
	for i, b := range x.books {
		out[i] = b.name
	}
	return out
}

// Count returns the number of events Next has returned.
func (x *Exchange) Count() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count
}

// Book returns the exchange's current book of symbol as canonical decimal strings, best level first: the book a
// consumer holds after applying every event returned so far. It returns nil, nil for an unknown symbol.
func (x *Exchange) Book(symbol string) (bids, asks [][2]string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	b := x.byName[symbol]
	if b == nil {
		return nil, nil
	}
	conv := func(ls []level) [][2]string {
		out := make([][2]string, len(ls))
		for i, l := range ls {
			out[i] = [2]string{
				string(schema.AppendDecimal(nil, l.price, b.priceExp)),
				string(schema.AppendDecimal(nil, l.size, b.sizeExp)),
			}
		}
		return out
	}
	return conv(b.bids), conv(b.asks)
}

// Next returns the next event. The first event of each symbol is its snapshot (the first len(Symbols())
// events are these snapshots, in symbol order); then symbols are picked at random, busier ones more often, and
// each event is a delta, a trade, or a periodic re-snapshot. The returned Value is not reused.
func (x *Exchange) Next() Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	var b *book
	if x.count < uint64(len(x.books)) {
		b = x.books[x.count]
	} else {
		v := x.rng.Int64N(x.cum[len(x.cum)-1])
		i, _ := slices.BinarySearch(x.cum, v+1)
		b = x.books[i]
	}
	x.count++
	x.now = x.now.Add(time.Duration(1000 + x.rng.IntN(9000)))
	t := x.now
	if x.cfg.Clock != nil {
		t = x.cfg.Clock().UTC()
	}
	b.seq++
	b.sinceSnap++
	// About one event in five writes its decimals with all their places ("43000.10", "1.5000"), as
	// gateways that format with a fixed precision do.
	fixed := x.rng.IntN(5) == 0
	buf := x.buf[:0]
	switch {
	case b.seq == 1:
		buf = x.appendSnapshot(buf, b, t, fixed)
	case len(b.pending) > 0:
		d := &delta{}
		for _, c := range b.pending {
			d.set(b, c.ask, c.price, c.size)
		}
		b.pending = b.pending[:0]
		buf = x.appendDelta(buf, b, d, t, fixed)
	case x.cfg.ResnapshotEvery > 0 && b.sinceSnap >= x.cfg.ResnapshotEvery:
		buf = x.appendSnapshot(buf, b, t, fixed)
	case x.rng.Float64() < x.pTrade:
		buf = x.trade(buf, b, t, fixed)
	default:
		d := &delta{}
		x.randomDelta(b, d)
		buf = x.appendDelta(buf, b, d, t, fixed)
	}
	x.buf = buf
	return Event{Key: b.name, Value: slices.Clone(buf), Time: t}
}

// size returns a random resting size in lots, small sizes more often than large ones.
func (x *Exchange) size(b *book) int64 {
	return b.minSize + x.rng.Int64N(x.rng.Int64N(b.maxSize-b.minSize)+1)
}

// initBook builds the starting book around the symbol's price: a tight spread, dense levels near the touch
// and sparser ones farther out.
func (x *Exchange) initBook(b *book) {
	n := x.cfg.Levels
	bid := b.price - int64(x.rng.IntN(2))
	ask := b.price + 1 + int64(x.rng.IntN(2))
	for i := 0; i < n && bid > 0; i++ {
		b.bids = append(b.bids, level{bid, x.size(b)})
		bid -= 1 + int64(x.rng.IntN(1+i/10))
	}
	for i := range n {
		b.asks = append(b.asks, level{ask, x.size(b)})
		ask += 1 + int64(x.rng.IntN(1+i/10))
	}
}

// side returns a pointer to the bids or the asks.
func (b *book) side(ask bool) *[]level {
	if ask {
		return &b.asks
	}
	return &b.bids
}

// find returns the index of price in the side, or where it would be inserted.
func (b *book) find(ask bool, price int64) (int, bool) {
	ls := *b.side(ask)
	if ask {
		return slices.BinarySearchFunc(ls, price, func(l level, p int64) int { return cmpInt(l.price, p) })
	}
	return slices.BinarySearchFunc(ls, price, func(l level, p int64) int { return cmpInt(p, l.price) })
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// apply sets a level of the book; size 0 deletes it.
func (b *book) apply(ask bool, price, size int64) {
	s := b.side(ask)
	i, ok := b.find(ask, price)
	switch {
	case ok && size == 0:
		*s = slices.Delete(*s, i, i+1)
	case ok:
		(*s)[i].size = size
	case size != 0:
		*s = slices.Insert(*s, i, level{price, size})
	}
}

func (b *book) crossed() bool {
	return len(b.bids) > 0 && len(b.asks) > 0 && b.bids[0].price >= b.asks[0].price
}

// delta collects the changes of one delta event and applies them to the book as they are made. A price set
// twice keeps its last size.
type delta struct{ bids, asks []level }

func (d *delta) set(b *book, ask bool, price, size int64) {
	b.apply(ask, price, size)
	ls := &d.bids
	if ask {
		ls = &d.asks
	}
	for i := range *ls {
		if (*ls)[i].price == price {
			(*ls)[i].size = size
			return
		}
	}
	*ls = append(*ls, level{price, size})
}

func (d *delta) empty() bool { return len(d.bids)+len(d.asks) == 0 }

// randomDelta makes 1–4 changes (a few more when the mid moves): size changes, new levels, deletes, or a move
// of the mid that deletes the levels it would cross, in the same delta. The book is never crossed after it.
func (x *Exchange) randomDelta(b *book, d *delta) {
	r := x.rng
	switch n := r.IntN(100); {
	case n < 20:
		x.moveMid(b, d)
	case n < 60:
		for k := 1 + r.IntN(3); k > 0; k-- {
			ask := r.IntN(2) == 0
			ls := *b.side(ask)
			l := ls[r.IntN(r.IntN(len(ls))+1)] // near the touch more often
			d.set(b, ask, l.price, x.size(b))
		}
	case n < 82:
		x.addLevel(b, d, r.IntN(2) == 0)
		if r.IntN(3) == 0 {
			x.addLevel(b, d, r.IntN(2) == 0)
		}
	default:
		for k := 1 + r.IntN(2); k > 0; k-- {
			ask := r.IntN(2) == 0
			if ls := *b.side(ask); len(ls) > 1 {
				d.set(b, ask, ls[r.IntN(len(ls))].price, 0)
			}
		}
	}
	// Keep each side near Levels levels: drop the farthest beyond it, and refill a thin side.
	for _, ask := range []bool{false, true} {
		for s := b.side(ask); len(*s) > x.cfg.Levels; {
			d.set(b, ask, (*s)[len(*s)-1].price, 0)
		}
		if s := b.side(ask); len(*s) < x.cfg.Levels && r.IntN(2) == 0 {
			x.fill(b, d, ask)
		}
	}
	if d.empty() {
		d.set(b, false, b.bids[0].price, x.size(b))
	}
}

// addLevel adds one level: inside the spread when there is room (always when the spread is wide), otherwise
// in a gap behind a level near the touch.
func (x *Exchange) addLevel(b *book, d *delta, ask bool) {
	r := x.rng
	spread := b.asks[0].price - b.bids[0].price
	if spread > 1 && (spread > 4 || r.IntN(3) == 0) {
		off := 1 + r.Int64N(spread-1)
		if ask {
			d.set(b, true, b.asks[0].price-off, x.size(b))
		} else {
			d.set(b, false, b.bids[0].price+off, x.size(b))
		}
		return
	}
	ls := *b.side(ask)
	ref := ls[r.IntN(r.IntN(len(ls))+1)].price
	gap := 1 + r.Int64N(3)
	price := ref + gap
	if !ask {
		price = ref - gap
	}
	if price <= 0 {
		return
	}
	d.set(b, ask, price, x.size(b)) // an existing price simply changes size
}

// fill adds a level halfway into a gap between two levels of a side picked at random, or behind the farthest
// level when there is no room there. Filling gaps keeps the depth from spreading ever wider.
func (x *Exchange) fill(b *book, d *delta, ask bool) {
	ls := *b.side(ask)
	if len(ls) >= 2 {
		i := x.rng.IntN(len(ls) - 1)
		if p := (ls[i].price + ls[i+1].price) / 2; p != ls[i].price && p != ls[i+1].price {
			d.set(b, ask, p, x.size(b))
			return
		}
	}
	gap := 1 + x.rng.Int64N(4)
	if ask {
		d.set(b, true, ls[len(ls)-1].price+gap, x.size(b))
	} else if p := ls[len(ls)-1].price - gap; p > 0 {
		d.set(b, false, p, x.size(b))
	}
}

// moveMid moves the touch up or down 1–3 ticks, with a pull back towards the starting price. Moving up, a new
// best bid appears and every ask at or below it is deleted in the same delta; a fresh best ask follows when
// the asks left are far away. Moving down is the mirror image.
func (x *Exchange) moveMid(b *book, d *delta) {
	r := x.rng
	mid := (b.bids[0].price + b.asks[0].price) / 2
	dev := float64(mid-b.price) / float64(b.price)
	pUp := min(0.8, max(0.2, 0.5-dev*25))
	k := 1 + r.Int64N(3)
	if r.Float64() < pUp {
		bid := b.bids[0].price + k
		for len(b.asks) > 0 && b.asks[0].price <= bid {
			d.set(b, true, b.asks[0].price, 0)
		}
		d.set(b, false, bid, x.size(b))
		if len(b.asks) == 0 || b.asks[0].price > bid+3 {
			d.set(b, true, bid+1+r.Int64N(2), x.size(b))
		}
		return
	}
	ask := b.asks[0].price - k
	if ask <= 3 {
		return
	}
	for len(b.bids) > 0 && b.bids[0].price >= ask {
		d.set(b, false, b.bids[0].price, 0)
	}
	d.set(b, true, ask, x.size(b))
	if len(b.bids) == 0 || b.bids[0].price < ask-3 {
		d.set(b, false, ask-1-r.Int64N(2), x.size(b))
	}
}

// trade prints a trade at the touch: a buy lifts the best ask, a sell hits the best bid. Trades do not change
// the book; the symbol's next event is the delta that takes the traded size out of the level.
func (x *Exchange) trade(buf []byte, b *book, t time.Time, fixed bool) []byte {
	r := x.rng
	buy := r.IntN(2) == 0
	ls := *b.side(buy)
	l := ls[0]
	size := l.size
	if r.IntN(4) != 0 {
		size = 1 + r.Int64N(l.size)
	}
	if size < l.size {
		b.pending = append(b.pending, change{buy, l.price, l.size - size})
	} else {
		b.pending = append(b.pending, change{buy, l.price, 0})
		if len(ls) == 1 { // keep the side from emptying
			p := l.price + 1 + r.Int64N(2)
			if !buy {
				p = l.price - 1 - r.Int64N(2)
			}
			if p > 0 {
				b.pending = append(b.pending, change{buy, p, x.size(b)})
			}
		}
	}
	x.tradeID++
	buf = appendHead(buf, "trade", b, t)
	buf = append(buf, `,"price":"`...)
	buf = appendNum(buf, l.price, b.priceExp, fixed)
	buf = append(buf, `","size":"`...)
	buf = appendNum(buf, size, b.sizeExp, fixed)
	if buy {
		buf = append(buf, `","side":"buy","trade_id":"t-`...)
	} else {
		buf = append(buf, `","side":"sell","trade_id":"t-`...)
	}
	buf = strconv.AppendUint(buf, x.tradeID, 10)
	return append(buf, `"}`...)
}

func (x *Exchange) appendSnapshot(buf []byte, b *book, t time.Time, fixed bool) []byte {
	b.sinceSnap = 0
	buf = appendHead(buf, "snapshot", b, t)
	buf = append(buf, `,"bids":`...)
	buf = appendLevels(buf, b, b.bids, fixed)
	buf = append(buf, `,"asks":`...)
	buf = appendLevels(buf, b, b.asks, fixed)
	return append(buf, '}')
}

func (x *Exchange) appendDelta(buf []byte, b *book, d *delta, t time.Time, fixed bool) []byte {
	if b.crossed() {
		panic("sim: internal error: book of " + b.name + " crossed")
	}
	buf = appendHead(buf, "delta", b, t)
	buf = append(buf, `,"bids":`...)
	buf = appendLevels(buf, b, d.bids, fixed)
	buf = append(buf, `,"asks":`...)
	buf = appendLevels(buf, b, d.asks, fixed)
	return append(buf, '}')
}

func appendHead(buf []byte, typ string, b *book, t time.Time) []byte {
	buf = append(buf, `{"type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","symbol":"`...)
	buf = append(buf, b.name...)
	buf = append(buf, `","seq":`...)
	buf = strconv.AppendUint(buf, b.seq, 10)
	buf = append(buf, `,"time":"`...)
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

func appendLevels(buf []byte, b *book, ls []level, fixed bool) []byte {
	buf = append(buf, '[')
	for i, l := range ls {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `["`...)
		buf = appendNum(buf, l.price, b.priceExp, fixed)
		buf = append(buf, `","`...)
		if l.size == 0 {
			buf = append(buf, '0') // a delete is always "0"
		} else {
			buf = appendNum(buf, l.size, b.sizeExp, fixed)
		}
		buf = append(buf, `"]`...)
	}
	return append(buf, ']')
}

// appendNum writes v × 10^-exp (v ≥ 0): canonical, or with all exp decimals when fixed ("43000.10").
func appendNum(buf []byte, v int64, exp uint8, fixed bool) []byte {
	if !fixed || exp == 0 {
		return schema.AppendDecimal(buf, v, exp)
	}
	p := schema.Pow10(exp)
	buf = strconv.AppendInt(buf, v/p, 10)
	buf = append(buf, '.')
	frac := strconv.AppendInt(make([]byte, 0, 20), v%p, 10)
	for i := len(frac); i < int(exp); i++ {
		buf = append(buf, '0')
	}
	return append(buf, frac...)
}
