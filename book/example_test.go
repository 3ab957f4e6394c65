package book_test

import (
	"errors"
	"fmt"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

func level(price, size string) schema.Level {
	p, _ := schema.ParseDecimal(price)
	s, _ := schema.ParseDecimal(size)
	return schema.Level{Price: p, Size: s}
}

func Example() {
	b := book.New("BTC-USD")

	// A snapshot makes the book live.
	err := b.ApplySnapshot(100, "2026-11-24T10:00:00Z",
		[]schema.Level{level("43000.1", "2"), level("42999", "1.5")},
		[]schema.Level{level("43000.2", "1")})
	fmt.Println(err, b.Live(), b.Checksum(0))

	// A delta: delete the best bid, add an ask with more price digits (the book rescales).
	err = b.ApplyDelta(101, "2026-11-24T10:00:00.5Z",
		[]schema.Level{level("43000.1", "0")},
		[]schema.Level{level("43000.15", "4")})
	fmt.Println(err, b.PriceExp())
	for _, c := range b.Changes() {
		fmt.Println(c.Side, schema.Decimal{Coef: c.Price, Exp: b.PriceExp()},
			schema.Decimal{Coef: c.Old, Exp: b.SizeExp()}, "->", schema.Decimal{Coef: c.New, Exp: b.SizeExp()})
	}

	// What a client holding the top 1 level per side must apply.
	bids, asks := b.ViewDiff(1, nil, nil)
	print := func(name string, ls []book.Level) {
		for _, l := range ls {
			fmt.Printf("%s %s×%s\n", name, schema.AppendDecimal(nil, l.Price, b.PriceExp()), schema.AppendDecimal(nil, l.Size, b.SizeExp()))
		}
	}
	print("bid", bids)
	print("ask", asks)

	// A delta that would cross the book is refused and changes nothing.
	err = b.ApplyDelta(102, "2026-11-24T10:00:01Z", []schema.Level{level("43001", "1")}, nil)
	fmt.Println(errors.Is(err, book.ErrCrossed), b.Seq(), b.Len(book.Bids))

	// Output:
	// <nil> true 2185181894
	// <nil> 2
	// bids 43000.1 2 -> 0
	// asks 43000.15 0 -> 4
	// bid 43000.1×0
	// bid 42999×1.5
	// ask 43000.15×4
	// ask 43000.2×0
	// true 101 1
}
