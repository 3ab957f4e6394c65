package feed_test

// The tests' own reference books: canonical decimal strings ordered with shopspring/decimal, and the
// upstream events they are built from, independent of the project's book and schema packages.

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// refBook is a price-level book kept with canonical decimal strings, ordered with shopspring/decimal: the
// tests' own notion of a book, independent of package book.
type refBook struct {
	bids, asks map[string]string // canonical price -> canonical size
}

func newRefBook() *refBook { return &refBook{bids: map[string]string{}, asks: map[string]string{}} }

func (b *refBook) clone() *refBook {
	c := newRefBook()
	for k, v := range b.bids {
		c.bids[k] = v
	}
	for k, v := range b.asks {
		c.asks[k] = v
	}
	return c
}

func canon(s string) (string, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// apply sets each level (size 0 deletes it). strict requires canonical input (what the feed sends).
func (b *refBook) apply(bids, asks [][]string, strict bool) error {
	for i, side := range [][][]string{bids, asks} {
		m := b.bids
		if i == 1 {
			m = b.asks
		}
		for _, l := range side {
			if len(l) != 2 {
				return fmt.Errorf("level %q is not [price, size]", l)
			}
			p, err := canon(l[0])
			if err != nil {
				return fmt.Errorf("price %q: %v", l[0], err)
			}
			s, err := canon(l[1])
			if err != nil {
				return fmt.Errorf("size %q: %v", l[1], err)
			}
			if strict && (p != l[0] || s != l[1]) {
				return fmt.Errorf("level %q is not in canonical decimal form", l)
			}
			if s == "0" {
				delete(m, p)
			} else {
				m[p] = s
			}
		}
	}
	return nil
}

// side returns one side best first.
func (b *refBook) side(bids bool) []string {
	m := b.asks
	if bids {
		m = b.bids
	}
	type priced struct {
		s string
		d decimal.Decimal
	}
	ps := make([]priced, 0, len(m))
	for p := range m {
		ps = append(ps, priced{p, decimal.RequireFromString(p)})
	}
	slices.SortFunc(ps, func(x, y priced) int {
		c := x.d.Cmp(y.d)
		if bids {
			return -c
		}
		return c
	})
	prices := make([]string, len(ps))
	for i, p := range ps {
		prices[i] = p.s
	}
	return prices
}

// top renders the best n levels per side (0: all) as "price:size;…|price:size;…", the checksum input of
// docs/protocol.md §2.
func (b *refBook) top(n int) string {
	var sb strings.Builder
	for i, bids := range []bool{true, false} {
		if i == 1 {
			sb.WriteByte('|')
		}
		m := b.asks
		if bids {
			m = b.bids
		}
		for j, p := range b.side(bids) {
			if n > 0 && j == n {
				break
			}
			sb.WriteString(p + ":" + m[p] + ";")
		}
	}
	return sb.String()
}

// checksum computes the checksum of docs/protocol.md §2 for a subscription of the given depth (0: full book).
func (b *refBook) checksum(depth int) uint32 {
	return crc32.ChecksumIEEE([]byte(b.top(checksumLevels(depth))))
}

// checksumLevels is the number of levels per side the checksum covers: min(10, depth), 10 for the full book.
func checksumLevels(depth int) int {
	if depth > 0 && depth < 10 {
		return depth
	}
	return 10
}

// upstreamEvent is the part of an upstream JSON event the reference needs.
type upstreamEvent struct {
	Type   string
	Symbol string
	Seq    uint64
	Bids   [][]string
	Asks   [][]string
}

// reference applies upstream events to its own books and remembers each symbol's book after every book
// event, so that a client's book at seq s can be compared with upstream's at s.
type reference struct {
	books  map[string]*refBook
	states map[string]map[uint64]*refBook
}

func newReference() *reference {
	return &reference{books: map[string]*refBook{}, states: map[string]map[uint64]*refBook{}}
}

func (r *reference) add(value []byte) {
	var e upstreamEvent
	if err := json.Unmarshal(value, &e); err != nil {
		panic(err)
	}
	if e.Type != "snapshot" && e.Type != "delta" {
		return
	}
	b := r.books[e.Symbol]
	if b == nil || e.Type == "snapshot" {
		b = newRefBook()
		r.books[e.Symbol] = b
	}
	if r.states[e.Symbol] == nil {
		r.states[e.Symbol] = map[uint64]*refBook{}
	}
	if err := b.apply(e.Bids, e.Asks, false); err != nil {
		panic(err)
	}
	r.states[e.Symbol][e.Seq] = b.clone()
}

// stateAt returns upstream's book of symbol right after the book event seq; unless exact, seq may also be
// that of a later event that did not change the book (a trade), and the book before it is returned.
func (r *reference) stateAt(symbol string, seq uint64, exact bool) *refBook {
	if b := r.states[symbol][seq]; b != nil || exact {
		return b
	}
	var best uint64
	for s := range r.states[symbol] {
		if s <= seq && s > best {
			best = s
		}
	}
	return r.states[symbol][best]
}
