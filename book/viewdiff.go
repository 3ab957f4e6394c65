package book

// ViewDiff appends to bids and asks (best first) the levels a client holding the top n levels per side
// (n <= 0: the whole book) must set to go from its view before the last ApplyDelta to its view after it:
//
//   - a level visible after the delta whose size differs from before, or that was not visible before, is
//     sent with its new size (this includes a level pulled into the top n because levels above it were
//     deleted);
//   - a level visible before but not after (deleted, or pushed below the top n by inserts above it) is
//     sent with size 0.
//
// Levels outside the view before and after send nothing. For n <= 0 the result is Changes as levels.
// After ApplySnapshot, or a delta that changed nothing, it appends nothing. Call it after a successful
// ApplyDelta, before the next Apply call.
//
// It does not walk the book: for each side it starts at the best changed price (levels above it keep
// their rank), walks the changes best first, and in each run of unchanged levels between two changes uses
// the rank shift (inserted minus deleted so far) to go straight to the levels that cross the n boundary.
// It stops as soon as both the old and the new rank pass n. Cost: O(k + levels sent); ApplyDelta has
// already found where each change is.
func (b *Book) ViewDiff(n int, bids, asks []Level) ([]Level, []Level) {
	k, m := b.nbids, len(b.changes)
	// Walk only the sides that changed within the view: when a side's best change has n levels or more
	// above it, every change of that side is below the view, before and after.
	if k > 0 && (n <= 0 || b.above[0] < n) {
		if k == 1 {
			// One change: the level with its new size (0 when it was deleted); an insert pushes the level
			// now at rank n out of the view, a delete pulls the level now at rank n-1 into it. Written out
			// here for both sides (a call costs as much as the work).
			c := &b.changes[0]
			bids = append(bids, Level{Price: c.Price, Size: c.New})
			if a, ins := b.sides[Bids], c.Old == 0; n > 0 && (ins || c.New == 0) {
				if i := len(a) - n - b2i(ins); i >= 0 {
					l := a[i] // a bid's key is its price
					if ins {
						l.Size = 0
					}
					bids = append(bids, l)
				}
			}
		} else if k == 2 && n > 0 {
			bids = b.viewDiffTwo(Bids, n, 0, bids)
		} else {
			bids = b.viewDiffSide(Bids, n, 0, k, bids)
		}
	}
	if k < m && (n <= 0 || b.above[k] < n) {
		if m-k == 1 {
			c := &b.changes[k] // as for bids above
			asks = append(asks, Level{Price: c.Price, Size: c.New})
			if a, ins := b.sides[Asks], c.Old == 0; n > 0 && (ins || c.New == 0) {
				if i := len(a) - n - b2i(ins); i >= 0 {
					l := a[i]
					if ins {
						l.Size = 0
					}
					asks = append(asks, Level{Price: priceOf(Asks, l.Price), Size: l.Size})
				}
			}
		} else if m-k == 2 && n > 0 {
			asks = b.viewDiffTwo(Asks, n, k, asks)
		} else {
			asks = b.viewDiffSide(Asks, n, k, m, asks)
		}
	}
	return bids, asks
}

// viewDiffTwo is viewDiffSide for a side with the two changes b.changes[j] and b.changes[j+1], the first
// with fewer than n > 0 levels above it (a two-level delta puts both on one side half the time): the walk
// written out. Between and after the two changes at most one, then two, unchanged levels cross the n
// boundary, at array index len-1-n (pushed out by an insert above) or len-n (pulled in by a delete).
func (b *Book) viewDiffTwo(s Side, n, j int, dst []Level) []Level {
	ch, above := b.changes[j:j+2:j+2], b.above[j:j+2:j+2]
	c := &ch[0]
	// The first change is in both views' ranges (it has q0 < n levels above it in both orderings).
	dst = append(dst, Level{Price: c.Price, Size: c.New})
	q := above[0]
	ro, rn := q+b2i(c.Old != 0), q+b2i(c.New != 0)
	if ro >= n && rn >= n {
		return dst
	}
	a := b.sides[s]
	q = above[1]
	// The unchanged levels between the changes, new ranks rn to q-1, old ranks shifted by ro-rn = ±1 or 0.
	if rn > ro { // an insert: the level at new rank n leaves the view
		if rn <= n && n < q {
			dst = append(dst, Level{Price: priceOf(s, a[len(a)-1-n].Price)})
		}
	} else if rn < ro { // a delete: the level at new rank n-1 enters it
		if ro <= n && n-ro < q-rn {
			l := a[len(a)-n]
			dst = append(dst, Level{Price: priceOf(s, l.Price), Size: l.Size})
		}
	}
	ro += q - rn
	rn = q
	if ro >= n && rn >= n {
		return dst
	}
	c = &ch[1]
	if c.New != 0 && rn < n {
		dst = append(dst, Level{Price: c.Price, Size: c.New})
	} else if c.Old != 0 && ro < n {
		dst = append(dst, Level{Price: c.Price})
	}
	ro += b2i(c.Old != 0)
	rn += b2i(c.New != 0)
	if ro == rn {
		return dst
	}
	return boundary(s, a, len(a)-rn, ro, rn, n, dst)
}

// viewDiffSide is ViewDiff for one side, whose changes are b.changes[from:to] (best first), with b.above
// their numbers of better levels in the array. (Indices rather than slices: fewer arguments to spill.)
//
// The new ordering is the array; the old one is the array minus the inserted levels plus the deleted
// ones. ro and rn are the old and new ranks of the next level in the walk (the number of levels above it
// in each ordering). rn is also the number of array levels passed, so the next array level is at index
// len-1-rn.
func (b *Book) viewDiffSide(s Side, n, from, to int, dst []Level) []Level {
	ch, above := b.changes[from:to], b.above[from:to]
	if n <= 0 {
		for _, c := range ch {
			dst = append(dst, Level{Price: c.Price, Size: c.New})
		}
		return dst
	}
	a := b.sides[s]
	ro, rn := 0, 0
	for j, c := range ch {
		if ro >= n && rn >= n {
			return dst
		}
		// q: the number of array levels better than c.Price. Those from rank rn to q-1 are unchanged.
		q := above[j]
		if ro != rn { // else no unchanged level changes visibility
			dst = boundary(s, a, q-rn, ro, rn, n, dst)
		}
		ro += q - rn
		rn = q
		if ro >= n && rn >= n {
			return dst
		}
		// The changed level itself: in the old ordering iff Old != 0, in the new one iff New != 0.
		if c.New != 0 && rn < n {
			dst = append(dst, Level{Price: c.Price, Size: c.New}) // Old != New: always news for the client
		} else if c.Old != 0 && ro < n {
			dst = append(dst, Level{Price: c.Price}) // it leaves the view
		}
		if c.Old != 0 {
			ro++
		}
		if c.New != 0 {
			rn++
		}
	}
	if ro == rn {
		return dst
	}
	return boundary(s, a, len(a)-rn, ro, rn, n, dst)
}

// boundary handles a run of run unchanged levels whose first has old rank ro and new rank rn (array index
// len-1-rn). An unchanged level matters only when it is visible in exactly one ordering, that is when n
// lies between its two ranks: with rn > ro (more inserts than deletes above) the levels with
// ro+j < n <= rn+j leave the view; with rn < ro the levels with rn+j < n <= ro+j enter it.
func boundary(s Side, a []Level, run, ro, rn, n int, dst []Level) []Level {
	var from, to int // offsets in the run
	switch {
	case rn > ro:
		from, to = max(0, n-rn), min(run, n-ro)
	case rn < ro:
		from, to = max(0, n-ro), min(run, n-rn)
	default:
		return dst
	}
	for j := from; j < to; j++ {
		l := a[len(a)-1-rn-j]
		size := l.Size
		if rn > ro {
			size = 0
		}
		dst = append(dst, Level{Price: priceOf(s, l.Price), Size: size})
	}
	return dst
}
