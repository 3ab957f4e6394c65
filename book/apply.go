package book

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/depthcast/depthcast/schema"
)

// ApplySnapshot replaces the content of the book with bids and asks (in any order) and makes it live.
// Levels with size 0 are left out; if a price repeats on a side, the last one counts. It returns ErrCrossed
// if the best bid is at or above the best ask, ErrScale if the levels do not fit in int64 at the scale
// they need, ErrInvalid for a price that is not positive or a negative size. On error the book is
// unchanged. After it, Changes returns nil and ViewDiff appends nothing: a snapshot is sent whole.
func (b *Book) ApplySnapshot(seq uint64, time string, bids, asks []schema.Level) error {
	var np, ns uint8 // the digits the snapshot needs
	for s, ls := range [2][]schema.Level{bids, asks} {
		for i, l := range ls {
			if err := b.check(Side(s), i, l, "snapshot", seq); err != nil {
				return err
			}
			if l.Size.Sign() != 0 {
				np, ns = max(np, l.Price.Exp), max(ns, l.Size.Exp)
			}
		}
	}
	// Keep the current scale when the snapshot fits in it, so that the scale does not move back and forth;
	// otherwise start again at the scale the snapshot needs.
	pe, se := max(b.pexp, np), max(b.sexp, ns)
	if !fitsSnapshot(bids, asks, pe, true) {
		pe = np
	}
	if !fitsSnapshot(bids, asks, se, false) {
		se = ns
	}
	if !fitsSnapshot(bids, asks, pe, true) || !fitsSnapshot(bids, asks, se, false) {
		return fmt.Errorf("book %s: snapshot seq %d: levels do not fit in int64 with %d price and %d size digits: %w",
			b.symbol, seq, np, ns, ErrScale)
	}
	for s, ls := range [2][]schema.Level{bids, asks} {
		b.spare[s] = buildSide(Side(s), ls, pe, se, b.spare[s][:0])
		if n := len(b.spare[s]); n > b.maxLevels {
			return fmt.Errorf("book %s: snapshot seq %d: %d %s, limit %d: %w", b.symbol, seq, n, Side(s), b.maxLevels, ErrTooManyLevels)
		}
	}
	if crossedSides(b.spare[Bids], b.spare[Asks]) {
		bb, ba := b.spare[Bids][len(b.spare[Bids])-1].Price, -b.spare[Asks][len(b.spare[Asks])-1].Price
		return fmt.Errorf("book %s: snapshot seq %d: best bid %s >= best ask %s: %w", b.symbol, seq,
			schema.AppendDecimal(nil, bb, pe), schema.AppendDecimal(nil, ba, pe), ErrCrossed)
	}
	b.sides, b.spare = b.spare, b.sides
	b.pexp, b.sexp = pe, se
	b.live, b.seq, b.time = true, seq, time
	b.sumValid = 0
	b.changes = b.changes[:0]
	b.above = b.above[:0]
	b.nbids = 0
	return nil
}

// check refuses a level the book must never hold.
func (b *Book) check(s Side, i int, l schema.Level, what string, seq uint64) error {
	if l.Price.Sign() <= 0 || l.Size.Sign() < 0 {
		return fmt.Errorf("book %s: %s seq %d: %s[%d] = %s × %s: %w", b.symbol, what, seq, s, i, l.Price, l.Size, ErrInvalid)
	}
	return nil
}

// fitsSnapshot reports whether every level with a non-zero size has its price (or size) representable
// with exp digits.
func fitsSnapshot(bids, asks []schema.Level, exp uint8, price bool) bool {
	for _, ls := range [2][]schema.Level{bids, asks} {
		for _, l := range ls {
			if l.Size.Sign() == 0 {
				continue
			}
			d := l.Size
			if price {
				d = l.Price
			}
			if _, ok := d.Rescale(exp); !ok {
				return false
			}
		}
	}
	return true
}

// buildSide appends the non-zero levels of ls to dst as keys and sizes, sorted ascending by key with the
// last of repeated prices kept. The caller has checked that they fit.
func buildSide(s Side, ls []schema.Level, pe, se uint8, dst []Level) []Level {
	for _, l := range ls {
		if l.Size.Sign() == 0 {
			continue
		}
		p, _ := l.Price.Rescale(pe)
		z, _ := l.Size.Rescale(se)
		dst = append(dst, Level{Price: keyOf(s, p), Size: z})
	}
	// Snapshots usually come best first, that is descending by key: reverse instead of sorting.
	if slices.IsSortedFunc(dst, func(x, y Level) int { return cmp.Compare(y.Price, x.Price) }) {
		slices.Reverse(dst)
		// A run of equal keys is now reversed too: the last input of the run comes first.
		return compactKeep(dst, true)
	}
	slices.SortStableFunc(dst, func(x, y Level) int { return cmp.Compare(x.Price, y.Price) })
	return compactKeep(dst, false)
}

// compactKeep removes repeated keys from a sorted slice, keeping the first (first == true) or the last of
// each run.
func compactKeep(a []Level, first bool) []Level {
	if len(a) < 2 {
		return a
	}
	w := 0
	for i := 0; i < len(a); i++ {
		if i > 0 && a[i].Price == a[w-1].Price {
			if !first {
				a[w-1] = a[i]
			}
			continue
		}
		a[w] = a[i]
		w++
	}
	return a[:w]
}

// ApplyDelta applies a delta: bids, then asks, each in input order. Size 0 deletes the level (deleting a
// level that is not there does nothing); any other size replaces it. It requires Live() (else ErrNotLive).
// If the result would be crossed it returns ErrCrossed; with ErrScale or ErrInvalid it refuses the input
// (levels applied before the one refused are undone). On every error the book, including Seq, Time, the
// scales and Changes, is exactly as before.
func (b *Book) ApplyDelta(seq uint64, time string, bids, asks []schema.Level) error {
	if !b.live {
		return fmt.Errorf("book %s: delta seq %d: %w", b.symbol, seq, ErrNotLive)
	}
	// The usual delta fits the book's scales: it is checked, converted and applied in one pass, with every
	// edit logged. Any other is undone (the book is as before) and goes the general way below.
	pe, se := b.pexp, b.sexp
	b.log = b.log[:0]
	b.bulk = false
	// A delta of many levels is merged whole (see mergeSide): level by level, each insert would move the
	// levels below it, a cost that grows with the size of the book.
	if len(bids)+len(asks) > maxTracked || !b.applyInScale(bids, asks) {
		b.rollback()
		if err := b.applyGeneral(seq, bids, asks); err != nil {
			return err
		}
	}
	if nb, na := len(b.sides[Bids]), len(b.sides[Asks]); (nb > b.maxLevels || na > b.maxLevels) && b.grew(nb, na) {
		err := fmt.Errorf("book %s: delta seq %d: %d bids and %d asks, limit %d a side: %w", b.symbol, seq, nb, na, b.maxLevels, ErrTooManyLevels)
		b.undo(pe, se)
		return err
	}
	if b.crossed() {
		return b.undoCrossed(seq, pe, se)
	}
	b.seq, b.time = seq, time
	if log := b.log; len(log) == 2 && !b.bulk && (log[0].side != log[1].side || log[0].key != log[1].key) {
		b.twoChanges(&log[0], &log[1]) // the usual delta: without buildChanges' frame
	} else {
		b.buildChanges()
	}
	b.keepChecksums()
	return nil
}

// undoCrossed undoes a delta that crossed the book, whose scales were pe and se before it, and returns
// the error. (Out of ApplyDelta, whose usual path then has a smaller frame.)
func (b *Book) undoCrossed(seq uint64, pe, se uint8) error {
	bb, ba := b.sides[Bids][len(b.sides[Bids])-1].Price, -b.sides[Asks][len(b.sides[Asks])-1].Price
	err := fmt.Errorf("book %s: delta seq %d: best bid %s >= best ask %s: %w", b.symbol, seq,
		schema.AppendDecimal(nil, bb, b.pexp), schema.AppendDecimal(nil, ba, b.pexp), ErrCrossed)
	b.undo(pe, se)
	return err
}

// undo undoes the delta being applied, the book's scales having been pe and se before it.
func (b *Book) undo(pe, se uint8) {
	b.rollback()
	if dp, ds := b.pexp-pe, b.sexp-se; dp != 0 || ds != 0 {
		b.rescale(dp, ds, false)
		b.pexp, b.sexp = pe, se
	}
}

// grew reports whether the delta just applied, leaving nb bids and na asks, added levels to a side over the
// limit (a side already over a lowered limit may still shrink or change in place).
func (b *Book) grew(nb, na int) bool {
	if !b.bulk {
		var d [2]int
		for _, e := range b.log {
			d[e.side&1] += b2i(e.old == 0) - b2i(e.new == 0)
		}
		return (nb > b.maxLevels && d[Bids] > 0) || (na > b.maxLevels && d[Asks] > 0)
	}
	return (nb > b.maxLevels && nb > len(b.spare[Bids])) || (na > b.maxLevels && na > len(b.spare[Asks]))
}

// applyGeneral applies a delta that does not fit the book's scales or has a level to refuse, with the log
// empty: 1. validate and find the scale the delta needs (deletes do not count: see convert); 2. convert
// the input to it; 3. rescale the book and apply the input, logging every edit. On error nothing changed.
func (b *Book) applyGeneral(seq uint64, bids, asks []schema.Level) error {
	pe, se := b.pexp, b.sexp
	for s, ls := range [2][]schema.Level{bids, asks} {
		for i, l := range ls {
			if l.Price.Coef <= 0 || l.Size.Coef < 0 { // check, without a call for the valid ones
				return b.check(Side(s), i, l, "delta", seq)
			}
			if l.Size.Coef != 0 {
				pe, se = max(pe, l.Price.Exp), max(se, l.Size.Exp)
			}
		}
	}
	dp, ds := pe-b.pexp, se-b.sexp
	if (dp != 0 || ds != 0) && !b.fits(dp, ds) {
		return fmt.Errorf("book %s: delta seq %d: the book does not fit in int64 with %d price and %d size digits: %w",
			b.symbol, seq, pe, se, ErrScale)
	}
	b.in = b.in[:0]
	for s, ls := range [2][]schema.Level{bids, asks} {
		if err := b.convert(Side(s), ls, pe, se, seq); err != nil {
			return err
		}
	}
	if dp != 0 || ds != 0 {
		b.rescale(dp, ds, true)
		b.pexp, b.sexp = pe, se
	}
	if len(b.in) > maxTracked {
		nb := 0
		for nb < len(b.in) && b.in[nb].side == Bids {
			nb++
		}
		b.bulk = true
		b.mergeSide(Bids, b.in[:nb])
		b.mergeSide(Asks, b.in[nb:])
		return nil
	}
	for _, in := range b.in {
		b.set(in.side, in.key, in.size)
	}
	return nil
}

// mergeSide applies the converted levels ins of side s at once: sorted by key (the last of a repeated key
// counts, as applied in order), then merged with the side into b.spare[s], which becomes the side while the
// old side is kept in b.spare[s] for rollback. The log gets one edit per changed level (above is found
// again by buildChanges). Its cost is O(n + k log k) for n levels and k inputs, where inserting one by one
// is O(n·k).
func (b *Book) mergeSide(s Side, ins []input) {
	old := b.sides[s]
	out := b.spare[s][:0]
	if len(ins) == 0 {
		out = append(out, old...)
		b.sides[s], b.spare[s] = out, old
		return
	}
	sortInputs(ins)
	i, start := 0, len(b.log)
	for k := 0; k < len(ins); {
		key := ins[k].key
		for k+1 < len(ins) && ins[k+1].key == key {
			k++
		}
		size := ins[k].size
		k++
		for i < len(old) && old[i].Price < key {
			out = append(out, old[i])
			i++
		}
		var was int64
		if i < len(old) && old[i].Price == key {
			was = old[i].Size
			i++
		}
		if size != 0 {
			out = append(out, Level{Price: key, Size: size})
		}
		if was != size {
			b.log = append(b.log, edit{place{s, 0}, key, was, size})
		}
	}
	out = append(out, old[i:]...)
	b.sides[s], b.spare[s] = out, old
	// The side's edits went in by ascending key, one per key: reversed, they are in editBefore's order, and
	// with the bids merged before the asks so is the whole log, which buildChanges does not sort.
	slices.Reverse(b.log[start:])
}

// sortInputs sorts ins by key, stably. A side comes as upstream lists it, best first: bids in one direction
// of keys and asks in the other, so input already in order or in strictly reverse order (no key twice,
// where reversing would change which of a repeated key counts) is recognised in one pass and not sorted.
func sortInputs(ins []input) {
	asc, desc := true, true
	for i := 1; i < len(ins) && (asc || desc); i++ {
		if ins[i-1].key > ins[i].key {
			asc = false
		}
		if ins[i-1].key <= ins[i].key {
			desc = false
		}
	}
	switch {
	case asc:
	case desc:
		slices.Reverse(ins)
	default:
		slices.SortStableFunc(ins, func(x, y input) int { return cmp.Compare(x.key, y.key) })
	}
}

// applyInScale checks, converts and applies the levels of the delta, bids then asks, as convert and set
// do, in the book's own scales, when every level is valid and fits them. At the first level that does not
// it reports false, with the edits made so far in the log, and ApplyDelta undoes them and takes the
// general way.
func (b *Book) applyInScale(bids, asks []schema.Level) bool {
	// One loop for both sides, closed with a goto: a loop over the sides compiles to more work per level.
	s, ls := Bids, bids
next:
	for i := range ls {
		l := &ls[i]
		if l.Price.Coef <= 0 || l.Size.Coef < 0 {
			return false
		}
		p, ok := l.Price.Rescale(b.pexp)
		var size int64
		if l.Size.Coef == 0 {
			if !ok {
				continue // as in convert: a delete that cannot match any level is a no-op
			}
		} else {
			if l.Price.Exp > b.pexp || l.Size.Exp > b.sexp {
				return false
			}
			z, okz := l.Size.Rescale(b.sexp)
			if !ok || !okz {
				return false
			}
			size = z
		}
		// set, written out: this loop is most of the work of a delta.
		key := keyOf(s, p)
		a := b.sides[s&1] // the mask drops the bounds check
		var j int
		var found bool
		if n := len(a); n >= nearLevels && a[n-nearLevels].Price < key {
			// search's first case, written out: no call, so nothing is spilled around it. A key above
			// the best needs no test of its own: every step goes up, to k = 31 and j = n, not found.
			w := (*[nearLevels]Level)(a[n-nearLevels:])
			k := 16 * b2i(w[16].Price < key)
			k += 8 * b2i(w[(k+8)&(nearLevels-1)].Price < key)
			k += 4 * b2i(w[(k+4)&(nearLevels-1)].Price < key)
			k += 2 * b2i(w[(k+2)&(nearLevels-1)].Price < key)
			k += b2i(w[(k+1)&(nearLevels-1)].Price < key)
			j, found = n-nearLevels+k+1, w[(k+1)&(nearLevels-1)].Price == key
		} else {
			j, found = search(a, key)
		}
		var old int64
		if found {
			old = a[j].Size
		}
		if old == size {
			continue
		}
		above := len(a) - j
		if found {
			above--
		}
		b.log = append(b.log, edit{place{s, int32(above)}, key, old, size})
		b.sides[s&1] = put(a, j, found, key, size)
	}
	if s == Bids {
		s, ls = Asks, asks
		goto next
	}
	return true
}

// set sets the level key of side s to size (0: deletes it) and logs the edit if it changes the book.
func (b *Book) set(s Side, key, size int64) {
	s &= 1
	a := b.sides[s]
	j, found := search(a, key)
	var old int64
	if found {
		old = a[j].Size
	}
	if old == size {
		return
	}
	above := len(a) - j
	if found {
		above--
	}
	b.log = append(b.log, edit{place{s, int32(above)}, key, old, size})
	b.sides[s] = put(a, j, found, key, size)
}

// keepChecksums drops the cached checksums that the last delta may have changed. Levels better than a
// side's best changed price kept their place, so the top n levels of every side, and Checksum(n), are
// unchanged while n is at most the number of such levels on each side.
func (b *Book) keepChecksums() {
	keep := schema.ChecksumDepth
	if k := b.nbids; k > 0 {
		keep = min(keep, b.above[0])
	}
	if k := b.nbids; k < len(b.above) {
		keep = min(keep, b.above[k])
	}
	b.sumValid &= uint16(1)<<(uint(keep+1)&15) - 1 // keep <= 10: the mask only spares the shift its range check
}

// fits reports whether every stored level still fits in int64 after multiplying prices by 10^dp and
// sizes by 10^ds.
func (b *Book) fits(dp, ds uint8) bool {
	lp, ls := int64(math.MaxInt64)/schema.Pow10(dp), int64(math.MaxInt64)/schema.Pow10(ds)
	for _, a := range b.sides {
		for _, l := range a {
			// Keys of asks are negative; |key| <= MaxInt64 always holds for a negated positive price.
			if l.Price > lp || l.Price < -lp || l.Size > ls {
				return false
			}
		}
	}
	return true
}

// rescale multiplies (up) or divides (down, exact: it undoes an earlier up) all stored levels.
func (b *Book) rescale(dp, ds uint8, up bool) {
	mp, ms := schema.Pow10(dp), schema.Pow10(ds)
	for _, a := range b.sides {
		for i := range a {
			if up {
				a[i].Price *= mp
				a[i].Size *= ms
			} else {
				a[i].Price /= mp
				a[i].Size /= ms
			}
		}
	}
}

// convert appends the levels of one side of a delta to b.in in the scales pe, se.
func (b *Book) convert(s Side, ls []schema.Level, pe, se uint8, seq uint64) error {
	for i, l := range ls {
		p, ok := l.Price.Rescale(pe)
		if l.Size.Sign() == 0 {
			if ok {
				b.in = append(b.in, input{side: s, key: keyOf(s, p)})
			}
			// Otherwise the price has more digits than any level of the book (or is beyond int64 at its
			// scale): it cannot be there and deleting it is a no-op.
			continue
		}
		z, okz := l.Size.Rescale(se)
		if !ok || !okz {
			return fmt.Errorf("book %s: delta seq %d: %s[%d] = %s × %s does not fit in int64 with %d price and %d size digits: %w",
				b.symbol, seq, s, i, l.Price, l.Size, pe, se, ErrScale)
		}
		b.in = append(b.in, input{side: s, key: keyOf(s, p), size: z})
	}
	return nil
}

// put sets a[i] (found) or inserts at i to size; size 0 deletes a[i].
func put(a []Level, i int, found bool, key, size int64) []Level {
	switch {
	case size == 0:
		if found {
			a = append(a[:i], a[i+1:]...)
		}
	case found:
		a[i].Size = size
	case i == len(a): // the new best
		a = append(a, Level{Price: key, Size: size})
	default:
		a = append(a[:i+1], a[i:]...) // a[i] repeated, then overwritten
		a[i] = Level{Price: key, Size: size}
	}
	return a
}

// rollback undoes the edits in b.log, last first.
func (b *Book) rollback() {
	if b.bulk {
		b.sides, b.spare = b.spare, b.sides
		b.bulk = false
		b.log = b.log[:0]
		return
	}
	for j := len(b.log) - 1; j >= 0; j-- {
		e := b.log[j]
		a := b.sides[e.side]
		i, found := search(a, e.key)
		b.sides[e.side] = put(a, i, found, e.key, e.old)
	}
	b.log = b.log[:0]
}

// maxTracked is the longest undo log for which buildChanges follows the levels above each edit through
// the later edits (quadratic in the log's length) instead of searching the book again.
const maxTracked = 32

// buildChanges turns the undo log into the net changes: one per (side, key) from the first edit's old size
// to the last edit's new size, dropped when they are equal; and b.above, the levels above each change.
// ApplyDelta calls twoChanges instead for the usual two edits at different levels.
func (b *Book) buildChanges() {
	log := b.log
	tracked := len(log) <= maxTracked && !b.bulk
	if tracked {
		// A later edit better than e on its side moves e down (an insert) or up (a delete) by one.
		for i := range log {
			for _, f := range log[i+1:] {
				if f.side == log[i].side && f.key > log[i].key {
					if f.old == 0 {
						log[i].above++
					} else if f.new == 0 {
						log[i].above--
					}
				}
			}
		}
	}
	if !b.bulk { // a merged delta's log is in order already (see mergeSide)
		sortEdits(log)
	}
	b.changes, b.above = b.changes[:0], b.above[:0]
	for i := 0; i < len(log); {
		j := i
		for j+1 < len(log) && log[j+1].side == log[i].side && log[j+1].key == log[i].key {
			j++
		}
		if log[i].old != log[j].new {
			s := log[i].side
			b.changes = append(b.changes, Change{Side: s, Price: priceOf(s, log[i].key), Old: log[i].old, New: log[j].new})
			b.above = append(b.above, int(log[j].above))
		}
		i = j + 1
	}
	b.nbids = 0
	for b.nbids < len(b.changes) && b.changes[b.nbids].Side == Bids {
		b.nbids++
	}
	if tracked {
		return
	}
	// Find them in the book: changes come best first per side, so each search is below the last.
	hi, side := 0, Side(2)
	for j, c := range b.changes {
		a := b.sides[c.Side]
		if c.Side != side {
			hi, side = len(a), c.Side
		}
		i, found := search(a[:hi], keyOf(c.Side, c.Price))
		hi = i
		q := len(a) - i
		if found {
			q--
		}
		b.above[j] = q
	}
}

// twoChanges is buildChanges for the usual delta of two edits at different levels: each is a net change.
// e was applied first; the log lists a delta's bid edits before its ask edits.
func (b *Book) twoChanges(e, f *edit) {
	ea, fa := int(e.above), int(f.above)
	if f.side == e.side && f.key > e.key {
		// f is better than e: it moved e down (an insert) or up (a delete), and comes first.
		ea += b2i(f.old == 0) - b2i(f.new == 0)
		e, f = f, e
		ea, fa = fa, ea
	}
	b.changes = append(b.changes[:0],
		Change{Side: e.side, Price: priceOf(e.side, e.key), Old: e.old, New: e.new},
		Change{Side: f.side, Price: priceOf(f.side, f.key), Old: f.old, New: f.new})
	b.above = append(b.above[:0], ea, fa)
	b.nbids = 2 - int(e.side) - int(f.side)
}

// editCompare orders edits as editBefore does: -1, 0 or +1.
func editCompare(x, y *edit) int {
	switch {
	case editBefore(x, y):
		return -1
	case editBefore(y, x):
		return 1
	}
	return 0
}

// editBefore orders edits bids first, then best (highest key) first.
func editBefore(x, y *edit) bool {
	if x.side != y.side {
		return x.side < y.side
	}
	return x.key > y.key
}

// sortEdits sorts log by editBefore, stably so that edits to one price stay in the order applied: by
// insertion for the few edits of a usual delta.
func sortEdits(log []edit) {
	if len(log) > 16 {
		slices.SortStableFunc(log, func(x, y edit) int { return editCompare(&x, &y) })
		return
	}
	for i := 1; i < len(log); i++ {
		for j := i; j > 0 && editBefore(&log[j], &log[j-1]); j-- {
			log[j], log[j-1] = log[j-1], log[j]
		}
	}
}
