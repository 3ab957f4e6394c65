package book

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// deepBook returns a live book with n bids at 100000.. and one ask above them, and limit levels a side.
func deepBook(tb testing.TB, n, limit int) *Book {
	tb.Helper()
	bk := New("X")
	bk.SetMaxLevels(limit)
	bids := make([]schema.Level, n)
	for i := range bids {
		bids[i] = schema.Level{Price: sdec(int64(100000+i), 0), Size: sdec(1, 0)}
	}
	if err := bk.ApplySnapshot(1, "t", bids, []schema.Level{{Price: sdec(int64(100000+n), 0), Size: sdec(1, 0)}}); err != nil {
		tb.Fatal(err)
	}
	return bk
}

// below returns k bid levels below 100000 with size z: the worst end of the book.
func below(k int, z int64) []schema.Level {
	ls := make([]schema.Level, k)
	for i := range ls {
		ls[i] = schema.Level{Price: sdec(int64(99999-i), 0), Size: sdec(z, 0)}
	}
	return ls
}

// BenchmarkDeltaBelowBook is the cost of a delta adding 1,000 levels below the book, then one deleting
// them, for books of 100 and 20,000 bids: it must not grow with the size of the book.
func BenchmarkDeltaBelowBook(b *testing.B) {
	add, del := below(1000, 1), below(1000, 0)
	for _, n := range []int{100, 20000} {
		b.Run(fmt.Sprintf("levels=%d", n), func(b *testing.B) {
			bk := deepBook(b, n, 1<<20)
			seq := uint64(1)
			for b.Loop() {
				seq++
				if err := bk.ApplyDelta(seq, "t", add, nil); err != nil {
					b.Fatal(err)
				}
				seq++
				if err := bk.ApplyDelta(seq, "t", del, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMaxLevels(t *testing.T) {
	const limit = 50
	// A snapshot over the limit is refused and the book is left as it was.
	bk := deepBook(t, 10, limit)
	if err := bk.ApplySnapshot(2, "t", below(limit+1, 1), nil); !errors.Is(err, ErrTooManyLevels) {
		t.Fatalf("snapshot of %d bids: %v, want ErrTooManyLevels", limit+1, err)
	}
	if bk.Len(Bids) != 10 || bk.Seq() != 1 || !bk.Live() {
		t.Fatalf("after a refused snapshot: %d bids, seq %d, live %v", bk.Len(Bids), bk.Seq(), bk.Live())
	}
	// Deltas: small ones (level by level) and large ones (merged) up to the limit pass, past it they are
	// refused whole.
	for _, k := range []int{3, 40} {
		t.Run(fmt.Sprintf("per_delta=%d", k), func(t *testing.T) {
			bk := deepBook(t, 10, limit)
			seq := uint64(1)
			added := 0
			for bk.Len(Bids)+k <= limit {
				seq++
				ls := make([]schema.Level, k)
				for i := range ls {
					ls[i] = schema.Level{Price: sdec(int64(99999-added-i), 0), Size: sdec(1, 0)}
				}
				if err := bk.ApplyDelta(seq, "t", ls, nil); err != nil {
					t.Fatalf("delta to %d bids: %v", bk.Len(Bids)+k, err)
				}
				added += k
			}
			before := bk.Len(Bids)
			over := below(added+k, 2)
			if err := bk.ApplyDelta(seq+1, "t", over, nil); !errors.Is(err, ErrTooManyLevels) {
				t.Fatalf("delta to %d bids: %v, want ErrTooManyLevels", before+k, err)
			}
			if bk.Len(Bids) != before || bk.Seq() != seq || bk.Size(Bids, 99999) != 1 {
				t.Fatalf("after a refused delta: %d bids (want %d), seq %d (want %d), size %d", bk.Len(Bids), before, bk.Seq(), seq, bk.Size(Bids, 99999))
			}
			// At the limit, changing and replacing levels still works.
			if err := bk.ApplyDelta(seq+1, "t", []schema.Level{{Price: sdec(99999, 0), Size: sdec(0, 0)}, {Price: sdec(200, 0), Size: sdec(5, 0)}}, nil); err != nil {
				t.Fatalf("delete and insert at the limit: %v", err)
			}
		})
	}
}

// A large delta costs about the same on a book at 20,000 bids as on one of 100: one that adds 5,000 levels
// below the book, then one that removes them. Applied level by level, each of those inserts and deletes
// would move every level above it, 200 times more on the deep book; merged with the side, a delta costs a
// pass over the side and a sort of its own levels. The books are timed in turns and the fastest of several
// rounds is kept, so that other work on the machine can only make the ratio look worse than it is.
func TestLargeDeltaCostDoesNotGrowWithTheBook(t *testing.T) {
	const k, rounds, maxRatio = 5000, 7, 10
	add := below(k, 1)
	slices.Reverse(add) // worst first: level by level, each lands above the last and below the whole book
	del := below(k, 0)  // best first: level by level, each removes the top of what was added
	books := []*Book{deepBook(t, 100, 1<<20), deepBook(t, 20000, 1<<20)}
	seqs := []uint64{1, 1}
	var best [2]time.Duration
	for range rounds {
		for i, bk := range books {
			start := time.Now()
			for _, d := range [][]schema.Level{add, del} {
				seqs[i]++
				if err := bk.ApplyDelta(seqs[i], "t", d, nil); err != nil {
					t.Fatal(err)
				}
			}
			if el := time.Since(start); best[i] == 0 || el < best[i] {
				best[i] = el
			}
		}
	}
	t.Logf("%d levels added and removed: %v on 100 bids, %v on 20,000", k, best[0], best[1])
	if best[1] > maxRatio*best[0] {
		t.Errorf("on 20,000 bids a delta of %d levels costs %v, more than %d times its %v on 100", k, best[1], maxRatio, best[0])
	}
}
