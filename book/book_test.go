package book

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/schema"
)

// lv parses "price:size" pairs separated by spaces into schema levels: lv("100.5:2 100:1").
func lv(s string) []schema.Level {
	var out []schema.Level
	for _, f := range strings.Fields(s) {
		p, z, _ := strings.Cut(f, ":")
		out = append(out, schema.Level{Price: mustDec(p), Size: mustDec(z)})
	}
	return out
}

func mustDec(s string) schema.Decimal {
	d, err := schema.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// show prints levels of b as "price:size" best first, in canonical decimals.
func show(b *Book, ls []Level) string {
	var sb strings.Builder
	for i, l := range ls {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%s:%s", schema.AppendDecimal(nil, l.Price, b.PriceExp()), schema.AppendDecimal(nil, l.Size, b.SizeExp()))
	}
	return sb.String()
}

// sides prints the whole book as "bids | asks".
func sides(b *Book) string {
	return show(b, b.Top(Bids, 0, nil)) + " | " + show(b, b.Top(Asks, 0, nil))
}

func showChanges(b *Book) string {
	var parts []string
	for _, c := range b.Changes() {
		parts = append(parts, fmt.Sprintf("%s %s %s->%s", c.Side, schema.AppendDecimal(nil, c.Price, b.PriceExp()),
			schema.AppendDecimal(nil, c.Old, b.SizeExp()), schema.AppendDecimal(nil, c.New, b.SizeExp())))
	}
	return strings.Join(parts, ", ")
}

func snap(t *testing.T, bids, asks string) *Book {
	t.Helper()
	b := New("BTC-USD")
	if err := b.ApplySnapshot(1, "t1", lv(bids), lv(asks)); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewBook(t *testing.T) {
	b := New("BTC-USD")
	if b.Symbol() != "BTC-USD" || b.Live() || b.Seq() != 0 || b.Time() != "" || b.Len(Bids) != 0 || b.Len(Asks) != 0 {
		t.Fatalf("new book: %+v", b)
	}
	err := b.ApplyDelta(1, "t", lv("1:1"), nil)
	if !errors.Is(err, ErrNotLive) || !strings.Contains(err.Error(), "BTC-USD") {
		t.Fatalf("delta before snapshot: %v", err)
	}
}

func TestSnapshot(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks string
		want       string
		wantExp    [2]uint8
	}{
		{"best first", "100.5:2 100:1 99.25:3", "101:1 102:0.5", "100.5:2 100:1 99.25:3 | 101:1 102:0.5", [2]uint8{2, 1}},
		{"any order", "99:3 100.5:2 100:1", "102:0.5 101:1 103:2", "100.5:2 100:1 99:3 | 101:1 102:0.5 103:2", [2]uint8{1, 1}},
		{"one side empty", "", "101:1", " | 101:1", [2]uint8{0, 0}},
		{"repeat: last wins", "100:1 100:2 99:1", "", "100:2 99:1 | ", [2]uint8{0, 0}},
		{"zero size left out", "100:1 99:0", "", "100:1 | ", [2]uint8{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, tt.bids, tt.asks)
			if got := sides(b); got != tt.want {
				t.Errorf("book = %q, want %q", got, tt.want)
			}
			if b.PriceExp() != tt.wantExp[0] || b.SizeExp() != tt.wantExp[1] {
				t.Errorf("exps = %d/%d, want %v", b.PriceExp(), b.SizeExp(), tt.wantExp)
			}
			if !b.Live() || b.Seq() != 1 || b.Time() != "t1" || b.Changes() != nil {
				t.Errorf("live=%v seq=%d time=%q changes=%v", b.Live(), b.Seq(), b.Time(), b.Changes())
			}
		})
	}
}

func TestSnapshotRefused(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks string
		err        error
	}{
		{"crossed", "101:1", "100:1", ErrCrossed},
		{"locked", "100:1", "100:2", ErrCrossed},
		{"overflow", "9000000000:1 1.0000000001:1", "", ErrScale},
		{"negative size", "100:-1", "", ErrInvalid},
		{"zero price", "0:1", "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, "99:1", "102:1")
			if err := b.ApplyDelta(2, "t2", lv("99.5:2"), nil); err != nil {
				t.Fatal(err)
			}
			before := state(b)
			err := b.ApplySnapshot(3, "t3", lv(tt.bids), lv(tt.asks))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got := state(b); got != before {
				t.Fatalf("book changed:\n%s\n%s", before, got)
			}
		})
	}
}

func TestSnapshotAfterStale(t *testing.T) {
	b := snap(t, "100:1", "101:1")
	b.MarkStale()
	if b.Live() || sides(b) != "100:1 | 101:1" {
		t.Fatalf("stale book: live=%v %s", b.Live(), sides(b))
	}
	if err := b.ApplyDelta(2, "t", lv("100:2"), nil); !errors.Is(err, ErrNotLive) {
		t.Fatalf("delta on stale book: %v", err)
	}
	if err := b.ApplySnapshot(5, "t5", lv("99:1"), lv("102:1")); err != nil || !b.Live() || b.Seq() != 5 {
		t.Fatalf("snapshot after stale: %v live=%v seq=%d", err, b.Live(), b.Seq())
	}
	if got := sides(b); got != "99:1 | 102:1" {
		t.Fatalf("book = %s", got)
	}
}

func TestDelta(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks string // the delta
		want       string
		changes    string
	}{
		{"replace", "100:5", "", "100:5 99:2 98:3 | 101:1 102:2", "bids 100 1->5"},
		{"insert best", "100.5:1", "", "100.5:1 100:1 99:2 98:3 | 101:1 102:2", "bids 100.5 0->1"},
		{"insert worst", "", "103:1", "100:1 99:2 98:3 | 101:1 102:2 103:1", "asks 103 0->1"},
		{"insert middle", "98.5:4", "", "100:1 99:2 98.5:4 98:3 | 101:1 102:2", "bids 98.5 0->4"},
		{"delete", "99:0", "101:0", "100:1 98:3 | 102:2", "bids 99 2->0, asks 101 1->0"},
		{"delete missing is a no-op", "97:0", "", "100:1 99:2 98:3 | 101:1 102:2", ""},
		{"same size is no change", "100:1", "", "100:1 99:2 98:3 | 101:1 102:2", ""},
		{"same price twice: last wins", "99:7 99:8", "", "100:1 99:8 98:3 | 101:1 102:2", "bids 99 2->8"},
		{"set then delete: no change", "97:1 97:0", "", "100:1 99:2 98:3 | 101:1 102:2", ""},
		{"delete then restore: no change", "99:0 99:2", "", "100:1 99:2 98:3 | 101:1 102:2", ""},
		{"changes best first", "98:1 100:0 99.5:1", "102:0 101:3 101.5:1", "99.5:1 99:2 98:1 | 101:3 101.5:1",
			"bids 100 1->0, bids 99.5 0->1, bids 98 3->1, asks 101 1->3, asks 101.5 0->1, asks 102 2->0"},
		{"delete whole side", "100:0 99:0 98:0", "", " | 101:1 102:2", "bids 100 1->0, bids 99 2->0, bids 98 3->0"},
		{"cross then uncross in one delta", "101:1 101:0", "", "100:1 99:2 98:3 | 101:1 102:2", ""},
		{"ask moves down after bid removed", "100:0", "100:4", "99:2 98:3 | 100:4 101:1 102:2", "bids 100 1->0, asks 100 0->4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, "100:1 99:2 98:3", "101:1 102:2")
			if err := b.ApplyDelta(2, "t2", lv(tt.bids), lv(tt.asks)); err != nil {
				t.Fatal(err)
			}
			if got := sides(b); got != tt.want {
				t.Errorf("book = %q, want %q", got, tt.want)
			}
			if got := showChanges(b); got != tt.changes {
				t.Errorf("changes = %q, want %q", got, tt.changes)
			}
			if b.Seq() != 2 || b.Time() != "t2" {
				t.Errorf("seq=%d time=%q", b.Seq(), b.Time())
			}
		})
	}
}

func TestDeltaRefused(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks string
		err        error
	}{
		{"bid crosses", "101:1", "", ErrCrossed},
		{"ask crosses", "", "99.5:1", ErrCrossed},
		{"locked", "", "100:1", ErrCrossed},
		{"best ask deleted, next one crossed", "102:1", "101:0", ErrCrossed},
		{"crossed after a rescale", "100.001:5 101.5:1", "", ErrCrossed},
		{"size overflows", "100:1000000000000000000", "", ErrScale},
		{"more digits overflow the book", "100:0.0000000000000001", "", ErrScale},
		{"price overflows", "99.5:1", "9000000000000000000:1", ErrScale},
		{"negative size", "100:-1", "", ErrInvalid},
		// Levels that fit the book's scales are applied as they are read: those before the refused one
		// (a new size, an insert, a delete, on either side) are undone.
		{"new size and insert, then a negative size", "99:7 96:1 100:-1", "", ErrInvalid},
		{"bids applied, then an ask refused", "99:0 97:1", "102:-1", ErrInvalid},
		{"bid and ask applied, then a size past int64", "99:7", "102:5 103:1000000000000000000", ErrScale},
		{"bid and ask applied, then a price with more digits, crossed", "99:7", "102:0 99.5:1", ErrCrossed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, "100:1000 99:2.5 98:3", "101:1 102:2")
			if err := b.ApplyDelta(2, "t2", lv("98:4"), nil); err != nil {
				t.Fatal(err)
			}
			sum := b.Checksum(10) // cached: a refused delta must leave it valid
			before := state(b)
			err := b.ApplyDelta(3, "t3", lv(tt.bids), lv(tt.asks))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got := state(b); got != before {
				t.Fatalf("book changed:\nbefore %s\nafter  %s", before, got)
			}
			if showChanges(b) != "bids 98 3->4" {
				t.Fatalf("changes of the last good delta lost: %s", showChanges(b))
			}
			if got := b.Checksum(10); got != sum {
				t.Fatalf("Checksum(10) = %d after the refused delta, %d before", got, sum)
			}
			b.sumValid = 0
			if got := b.Checksum(10); got != sum {
				t.Fatalf("Checksum(10) computed again = %d, %d before", got, sum)
			}
		})
	}
}

func TestRescale(t *testing.T) {
	b := snap(t, "100.5:2", "101:1")
	if b.PriceExp() != 1 || b.SizeExp() != 0 {
		t.Fatalf("exps %d/%d", b.PriceExp(), b.SizeExp())
	}
	if err := b.ApplyDelta(2, "t", lv("100.25:0.5"), nil); err != nil {
		t.Fatal(err)
	}
	if b.PriceExp() != 2 || b.SizeExp() != 1 {
		t.Fatalf("exps after more digits: %d/%d", b.PriceExp(), b.SizeExp())
	}
	if got := sides(b); got != "100.5:2 100.25:0.5 | 101:1" {
		t.Fatalf("book = %s", got)
	}
	if got := b.Top(Bids, 0, nil); got[0] != (Level{Price: 10050, Size: 20}) || got[1] != (Level{Price: 10025, Size: 5}) {
		t.Fatalf("stored levels %v", got)
	}
	if b.Size(Bids, 10050) != 20 || b.Size(Asks, 10100) != 10 || b.Size(Asks, 10101) != 0 {
		t.Fatalf("Size after rescale")
	}
	// Fewer digits than the book holds are scaled up; the scale does not shrink.
	if err := b.ApplyDelta(3, "t", nil, lv("101:3")); err != nil {
		t.Fatal(err)
	}
	if b.PriceExp() != 2 || sides(b) != "100.5:2 100.25:0.5 | 101:3" || showChanges(b) != "asks 101 1->3" {
		t.Fatalf("exp %d book %s changes %s", b.PriceExp(), sides(b), showChanges(b))
	}
	// A delete with more digits than the book holds cannot match a level: a no-op, no rescale.
	if err := b.ApplyDelta(4, "t", lv("100.123456789:0"), nil); err != nil || b.PriceExp() != 2 || b.Changes() != nil {
		t.Fatalf("fine-grained delete: %v exp %d changes %v", err, b.PriceExp(), b.Changes())
	}
	// A snapshot that fits keeps the scale; one that does not starts again at the scale it needs.
	if err := b.ApplySnapshot(5, "t", lv("100:1"), nil); err != nil || b.PriceExp() != 2 || b.SizeExp() != 1 {
		t.Fatalf("snapshot: %v exps %d/%d", err, b.PriceExp(), b.SizeExp())
	}
	if err := b.ApplySnapshot(6, "t", lv("100:1000000000000000000"), nil); err != nil || b.SizeExp() != 0 {
		t.Fatalf("big snapshot: %v size exp %d", err, b.SizeExp())
	}
}

func TestTop(t *testing.T) {
	b := snap(t, "100:1 99:2 98:3", "101:1 102:2")
	tests := []struct {
		side Side
		n    int
		want string
	}{
		{Bids, 1, "100:1"},
		{Bids, 2, "100:1 99:2"},
		{Bids, 10, "100:1 99:2 98:3"},
		{Bids, 0, "100:1 99:2 98:3"},
		{Asks, -1, "101:1 102:2"},
		{Asks, 1, "101:1"},
	}
	for _, tt := range tests {
		if got := show(b, b.Top(tt.side, tt.n, nil)); got != tt.want {
			t.Errorf("Top(%s, %d) = %q, want %q", tt.side, tt.n, got, tt.want)
		}
	}
	dst := b.Top(Asks, 1, b.Top(Bids, 1, nil)) // appends
	if show(b, dst) != "100:1 101:1" {
		t.Errorf("Top does not append: %s", show(b, dst))
	}
	if Bids.String() != "bids" || Asks.String() != "asks" || Side(7).String() != "Side(7)" {
		t.Errorf("Side.String")
	}
}

func TestChecksum(t *testing.T) {
	// The example of docs/protocol.md §2.
	b := snap(t, "43000.1:2 42999:1.5", "43000.2:1")
	want := crc32.ChecksumIEEE([]byte("43000.1:2;42999:1.5;|43000.2:1;"))
	for _, n := range []int{0, -1, 2, 10, 25} {
		if got := b.Checksum(n); got != want {
			t.Errorf("Checksum(%d) = %d, want %d", n, got, want)
		}
	}
	if got, want := b.Checksum(1), crc32.ChecksumIEEE([]byte("43000.1:2;|43000.2:1;")); got != want {
		t.Errorf("Checksum(1) = %d, want %d", got, want)
	}
	// More than 10 levels: only the top 10 count.
	var bids []string
	for i := range 15 {
		bids = append(bids, fmt.Sprintf("%d:1", 100-i))
	}
	b = snap(t, strings.Join(bids, " "), "")
	var sb strings.Builder
	for i := range 10 {
		fmt.Fprintf(&sb, "%d:1;", 100-i)
	}
	sb.WriteString("|")
	if got, want := b.Checksum(0), crc32.ChecksumIEEE([]byte(sb.String())); got != want {
		t.Errorf("Checksum over 15 levels = %d, want %d", got, want)
	}
}

// TestChecksumReuse checks the checksum after deltas and snapshots whose levels are partly in the last
// checksum input, which Checksum copies from it: with the same keys and sizes, but other scales, nothing
// may be copied.
func TestChecksumReuse(t *testing.T) {
	tests := []struct {
		name                 string
		bids, asks           string // the first snapshot
		deltaBids, deltaAsks string // then a delta ("" for none)
		snapBids, snapAsks   string // then a snapshot ("" for none)
		want                 string // the checksum input after them
	}{
		{"delta", "100:1 99:2 98:3", "101:1 102:2", "99:5 97:1", "101:0", "", "",
			"100:1;99:5;98:3;97:1;|102:2;"},
		{"more price digits", "100:1 99:2", "101:1", "99.5:2", "", "", "",
			"100:1;99.5:2;99:2;|101:1;"},
		// The second snapshot does not fit one price digit and starts again at none: key 15 was 1.5 and
		// is now 15, with the same size.
		{"fewer price digits", "1.5:1", "2:1", "", "", "1000000000000000000:1 15:1", "1000000000000000001:1",
			"1000000000000000000:1;15:1;|1000000000000000001:1;"},
		{"fewer size digits", "1:1.5", "3:1", "", "", "2:1000000000000000000 1:15", "3:1",
			"2:1000000000000000000;1:15;|3:1;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, tt.bids, tt.asks)
			_ = b.Checksum(10)
			if tt.deltaBids != "" || tt.deltaAsks != "" {
				if err := b.ApplyDelta(2, "t2", lv(tt.deltaBids), lv(tt.deltaAsks)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.snapBids != "" {
				if err := b.ApplySnapshot(3, "t3", lv(tt.snapBids), lv(tt.snapAsks)); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := b.Checksum(10), crc32.ChecksumIEEE([]byte(tt.want)); got != want {
				t.Errorf("Checksum(10) = %d, want %d of %q (levels %v | %v)", got, want, tt.want,
					b.Top(Bids, 0, nil), b.Top(Asks, 0, nil))
			}
		})
	}
}

// TestSearch checks search against sort.Search on every key around the levels of sides of every length up
// to 70 (the gallop brackets and the bisection at every size), with and without gaps.
func TestSearch(t *testing.T) {
	for n := 0; n <= 70; n++ {
		a := make([]Level, n)
		for i := range a {
			a[i].Price = int64(3*i) - 50
		}
		for key := int64(-55); key <= int64(3*n-45); key++ {
			want := sort.Search(n, func(i int) bool { return a[i].Price >= key })
			got, found := search(a, key)
			if got != want || found != (want < n && a[want].Price == key) {
				t.Fatalf("len %d key %d: search = %d, %v; want %d", n, key, got, found, want)
			}
		}
	}
	// Keys at the ends of int64, where a difference overflows (ask keys go down to -MaxInt64).
	const m = math.MaxInt64
	short := []Level{{Price: -m}, {Price: -m + 1}, {Price: -1}, {Price: 0}, {Price: 1}, {Price: m - 1}, {Price: m}}
	// The same past nearLevels, where the best levels are bisected in unrolled steps.
	var long []Level
	for i := range int64(20) {
		long = append(long, Level{Price: -m + i})
	}
	long = append(long, Level{Price: -1}, Level{Price: 0}, Level{Price: 1})
	for i := range int64(20) {
		long = append(long, Level{Price: m - 19 + i})
	}
	for _, a := range [][]Level{short, long} {
		checkSearchEnds(t, a)
	}
}

// checkSearchEnds checks search on every prefix of a for keys at and near the ends of int64.
func checkSearchEnds(t *testing.T, a []Level) {
	t.Helper()
	const m = math.MaxInt64
	for _, key := range []int64{math.MinInt64, -m, -m + 1, -m + 2, -2, -1, 0, 1, 2, m - 2, m - 1, m} {
		for n := range len(a) + 1 {
			want := sort.Search(n, func(i int) bool { return a[i].Price >= key })
			if got, found := search(a[:n], key); got != want || found != (want < n && a[want].Price == key) {
				t.Fatalf("%v key %d: search = %d, %v; want %d", a[:n], key, got, found, want)
			}
		}
	}
}
