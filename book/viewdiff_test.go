package book

import (
	"strings"
	"testing"
)

func TestViewDiff(t *testing.T) {
	// Bids 100..96 (sizes 1..5) and asks 101..105; every case applies one delta to this book.
	const bids, asks = "100:1 99:2 98:3 97:4 96:5", "101:1 102:2 103:3 104:4 105:5"
	tests := []struct {
		name             string
		n                int
		dBids, dAsks     string // the delta
		wantBids, wantAs string // ViewDiff, best first
	}{
		{"change inside the view", 3, "99:7", "", "99:7", ""},
		{"change below the view sends nothing", 3, "97:7", "105:0", "", ""},
		{"insert below the view sends nothing", 3, "96.5:1", "", "", ""},
		{"insert pushes the last level out", 3, "99.5:9", "", "99.5:9 98:0", ""},
		{"insert at the top pushes out", 1, "", "100.5:9", "", "100.5:9 101:0"},
		{"two inserts push two out", 3, "100.5:1 99.5:1", "", "100.5:1 99.5:1 99:0 98:0", ""},
		{"delete pulls the next level in", 3, "99:0", "", "99:0 97:4", ""},
		{"two deletes pull two in", 3, "100:0 98:0", "", "100:0 98:0 97:4 96:5", ""},
		{"delete of the last visible pulls one in", 3, "98:0", "", "98:0 97:4", ""},
		{"insert and delete: no shift", 3, "99:0 98.5:6", "", "99:0 98.5:6", ""},
		{"delete above, insert below the view", 3, "100:0 96.5:1", "", "100:0 97:4", ""},
		{"insert inside, delete below", 3, "99.5:1 97:0", "", "99.5:1 98:0", ""},
		{"several changes at once", 3, "100:2 99:0 98.5:3", "101:0 101.5:7", "100:2 99:0 98.5:3", "101:0 101.5:7"},
		{"delete more than the book holds below n", 4, "100:0 99:0", "", "100:0 99:0 96:5", ""},
		{"book shorter than n", 10, "100:0 95:1", "", "100:0 95:1", ""},
		{"book shorter than n, insert", 10, "100.5:1", "", "100.5:1", ""},
		{"full book", 0, "100:0 96.5:1 90:2", "104:1", "100:0 96.5:1 90:2", "104:1"},
		{"n = 1, replace best", 1, "100:3", "", "100:3", ""},
		{"n = 1, delete best", 1, "100:0", "", "100:0 99:2", ""},
		{"delete whole side", 2, "100:0 99:0 98:0 97:0 96:0", "", "100:0 99:0", ""},
		{"new levels on an emptied side", 2, "100:0 99:0 98:0 97:0 96:0 90:1 91:1", "", "100:0 99:0 91:1 90:1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snap(t, bids, asks)
			if err := b.ApplyDelta(2, "t", lv(tt.dBids), lv(tt.dAsks)); err != nil {
				t.Fatal(err)
			}
			gb, ga := b.ViewDiff(tt.n, nil, nil)
			if got := show(b, gb); got != tt.wantBids {
				t.Errorf("bids = %q, want %q", got, tt.wantBids)
			}
			if got := show(b, ga); got != tt.wantAs {
				t.Errorf("asks = %q, want %q", got, tt.wantAs)
			}
		})
	}
}

func TestViewDiffAppendsAndAfterSnapshot(t *testing.T) {
	b := snap(t, "100:1 99:2", "101:1")
	if gb, ga := b.ViewDiff(10, nil, nil); gb != nil || ga != nil {
		t.Fatalf("after snapshot: %v %v", gb, ga)
	}
	if err := b.ApplyDelta(2, "t", lv("99:3"), lv("101:0")); err != nil {
		t.Fatal(err)
	}
	pre := []Level{{Price: 1, Size: 1}}
	gb, ga := b.ViewDiff(2, pre, pre[:0:0])
	if got := show(b, gb) + " | " + show(b, ga); !strings.HasPrefix(got, "1:1 99:3 | 101:0") {
		t.Fatalf("ViewDiff does not append: %s", got)
	}
}
