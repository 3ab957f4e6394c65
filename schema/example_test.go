package schema_test

import (
	"fmt"

	"github.com/depthcast/depthcast/schema"
)

func ExampleParseDecimal() {
	for _, s := range []string{"43000.10", "2.000", "0.0015", "-1.5", "1e-3", "abc", "0.0000000000000000001"} {
		d, err := schema.ParseDecimal(s)
		if err != nil {
			fmt.Printf("%s: %v\n", s, err)
			continue
		}
		fmt.Printf("%s -> %s (Coef %d, Exp %d)\n", s, d, d.Coef, d.Exp)
	}
	// Output:
	// 43000.10 -> 43000.1 (Coef 430001, Exp 1)
	// 2.000 -> 2 (Coef 2, Exp 0)
	// 0.0015 -> 0.0015 (Coef 15, Exp 4)
	// -1.5 -> -1.5 (Coef -15, Exp 1)
	// 1e-3 -> 0.001 (Coef 1, Exp 3)
	// abc: not a decimal string: "abc"
	// 0.0000000000000000001: decimal out of range: "0.0000000000000000001" does not fit in 19 digits with at most 18 after the point
}

func ExampleDecodeEvent() {
	ev, err := schema.DecodeEvent([]byte(`{"type":"delta","symbol":"BTC-USD","seq":101,` +
		`"time":"2026-11-24T11:00:00.5+01:00","bids":[["43000.10","0"]],"asks":[["43000.3","4.00"]]}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Type, ev.Symbol, ev.Seq, ev.Time)
	fmt.Println("bids", ev.Bids, "asks", ev.Asks)

	_, err = schema.DecodeEvent([]byte(`{"type":"snapshot","symbol":"BTC-USD","seq":5,"time":"2026-11-24T10:00:00Z",` +
		`"bids":[["43000.2","1"]],"asks":[["43000.1","1"]]}`))
	fmt.Println(schema.ReasonOf(err), "|", err)
	// Output:
	// delta BTC-USD 101 2026-11-24T10:00:00.5Z
	// bids [{43000.1 0}] asks [{43000.3 4}]
	// crossed | crossed: best bid 43000.2 is not below best ask 43000.1
}

func ExampleChecksum() {
	// The book keeps integers: prices with 1 fractional digit, sizes with 4.
	bids := []schema.IntLevel{{Price: 430001, Size: 20000}, {Price: 429990, Size: 15000}}
	asks := []schema.IntLevel{{Price: 430002, Size: 10000}}
	// CRC-32 (IEEE) of "43000.1:2;42999:1.5;|43000.2:1;"
	fmt.Println(schema.Checksum(bids, asks, 1, 4))
	// Output:
	// 2185181894
}

func ExampleAppendBookMessage() {
	bids := []schema.IntLevel{{Price: 430001, Size: 20000}}
	asks := []schema.IntLevel{{Price: 430002, Size: 15000}}
	m := &schema.BookMessage{
		Type: schema.TypeSnapshot, Symbol: "BTC-USD", Seq: 1200, Time: "2026-11-24T10:00:00Z",
		PriceExp: 1, SizeExp: 4, Bids: bids, Asks: asks,
		Checksum: schema.Checksum(bids, asks, 1, 4), // crc32("43000.1:2;|43000.2:1.5;")
	}
	fmt.Println(string(schema.AppendBookMessage(nil, m)))

	m.Type, m.PrevSeq, m.Seq = schema.TypeUpdate, 1200, 1201
	m.Bids, m.Asks = []schema.IntLevel{{Price: 430001, Size: 0}}, nil
	m.Checksum = schema.Checksum(nil, asks, 1, 4) // the bid is gone: "|43000.2:1.5;"
	fmt.Println(string(schema.AppendBookMessage(nil, m)))
	// Output:
	// {"type":"snapshot","channel":"book","symbol":"BTC-USD","seq":1200,"time":"2026-11-24T10:00:00Z","bids":[["43000.1","2"]],"asks":[["43000.2","1.5"]],"checksum":348769820}
	// {"type":"update","channel":"book","symbol":"BTC-USD","seq":1201,"prev_seq":1200,"time":"2026-11-24T10:00:00Z","bids":[["43000.1","0"]],"asks":[],"checksum":508373488}
}
