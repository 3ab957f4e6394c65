package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Synthetic order flow, the same for every contender. Each symbol's book has fixed price levels around
// 43000 (tick 0.5); a delta replaces the size of one of the top 40 levels of one side with a size that
// never repeats (so every delta is a visible change and every full-book subscriber gets one update per
// delta). Upstream records are the JSON of docs/protocol.md §1, about 125 bytes; the update a client gets is
// about 170 bytes.

const (
	genMid       = 430000 // in ticks of 0.1 (price exp 1)
	genTopLevels = 40
)

func symbolNames(n int) []string {
	base := []string{"BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"}
	if n <= len(base) {
		return base[:n]
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("S%04d-USD", i)
	}
	return out
}

// snapshotRecord is an upstream snapshot with levels levels per side.
func snapshotRecord(sym string, seq uint64, levels int, t string) []byte {
	b := []byte(`{"type":"snapshot","symbol":"`)
	b = append(b, sym...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"time":"`...)
	b = append(b, t...)
	b = append(b, `","bids":[`...)
	for i := range levels {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLevel(b, genMid-5*int64(i+1), 15000)
	}
	b = append(b, `],"asks":[`...)
	for i := range levels {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLevel(b, genMid+5*int64(i+1), 15000)
	}
	return append(b, `]}`...)
}

func appendLevel(b []byte, priceTicks, sizeLots int64) []byte {
	b = append(b, `["`...)
	b = schema.AppendDecimal(b, priceTicks, 1)
	b = append(b, `","`...)
	b = schema.AppendDecimal(b, sizeLots, 4)
	return append(b, `"]`...)
}

// delta is one generated change: nlev levels of one side starting at level index lvl.
type delta struct {
	sym  string
	seq  uint64
	time string
	bid  bool
	lvl  int
	nlev int
}

func (d *delta) price(k int) int64 {
	off := 5 * int64((d.lvl+k)%genTopLevels+1)
	if d.bid {
		return genMid - off
	}
	return genMid + off
}

// size never repeats for a level: it grows with seq.
func (d *delta) size(k int) int64 { return int64(d.seq)*8 + int64(k) + 1 }

// record is the upstream JSON of the delta.
func (d *delta) record(b []byte) []byte {
	b = append(b, `{"type":"delta","symbol":"`...)
	b = append(b, d.sym...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, d.seq, 10)
	b = append(b, `,"time":"`...)
	b = append(b, d.time...)
	b = append(b, `","bids":[`...)
	if d.bid {
		b = d.levels(b)
	}
	b = append(b, `],"asks":[`...)
	if !d.bid {
		b = d.levels(b)
	}
	return append(b, `]}`...)
}

func (d *delta) levels(b []byte) []byte {
	for k := range d.nlev {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendLevel(b, d.price(k), d.size(k))
	}
	return b
}

// update is the client message a feed sends for the delta, in depthcast's shape, for the baselines that
// have no book: the same bytes on the wire, give or take the checksum digits.
func (d *delta) update(b []byte, scratch []schema.IntLevel) []byte {
	lv := scratch[:0]
	for k := range d.nlev {
		lv = append(lv, schema.IntLevel{Price: d.price(k), Size: d.size(k)})
	}
	m := schema.BookMessage{Type: schema.TypeUpdate, Symbol: d.sym, Seq: d.seq, PrevSeq: d.seq - 1, Time: d.time,
		PriceExp: 1, SizeExp: 4, Checksum: uint32(d.seq * 2654435761)}
	if d.bid {
		m.Bids = lv
	} else {
		m.Asks = lv
	}
	return schema.AppendBookMessage(b, &m)
}

// deltaGen produces deltas round-robin over symbols, each symbol's seq going up by one.
type deltaGen struct {
	syms []string
	seq  []uint64
	i    int
	nlev int
	tbuf []byte
}

// newDeltaGen starts after the snapshots (seq 1 of every symbol).
func newDeltaGen(syms []string, nlev int) *deltaGen {
	g := &deltaGen{syms: syms, seq: make([]uint64, len(syms)), nlev: max(nlev, 1)}
	for i := range g.seq {
		g.seq[i] = 1
	}
	return g
}

// next returns the next delta, stamped now.
func (g *deltaGen) next(now time.Time) delta {
	j := g.i % len(g.syms)
	g.i++
	g.seq[j]++
	s := g.seq[j]
	g.tbuf = now.UTC().AppendFormat(g.tbuf[:0], time.RFC3339Nano)
	return delta{sym: g.syms[j], seq: s, time: string(g.tbuf), bid: s%2 == 0, lvl: int(s/2) % genTopLevels, nlev: g.nlev}
}
