package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchRecords are the records of the decoder benchmarks: a 4-level delta and a trade from the fixtures, and
// a 25×25 snapshot in the common form (plain decimals, UTC time).
func benchRecords(tb testing.TB) map[string][]byte {
	var snap strings.Builder
	snap.WriteString(`{"type":"snapshot","symbol":"BTC-USD","seq":100,"time":"2026-11-24T10:00:00.123456789Z","bids":[`)
	for side, sign := range []int{-1, 1} {
		if side == 1 {
			snap.WriteString(`],"asks":[`)
		}
		for i := range 25 {
			if i > 0 {
				snap.WriteByte(',')
			}
			fmt.Fprintf(&snap, `["%d.%02d","%d.%04d"]`, 43000+sign*(i+1), 10+i, 1+i%7, 1234*i%10000)
		}
	}
	snap.WriteString(`]}`)
	return map[string][]byte{"delta4": readFixture(tb, "delta_four_levels"), "trade": readFixture(tb, "trade_buy"),
		"snapshot25": []byte(snap.String())}
}

var benchNames = []string{"delta4", "trade", "snapshot25"}

// BenchmarkDecode is a warm Decoder decoding into a reused Event, as a reader goroutine does.
func BenchmarkDecode(b *testing.B) {
	recs := benchRecords(b)
	for _, name := range benchNames {
		data := recs[name]
		b.Run(name, func(b *testing.B) {
			var d Decoder
			var ev Event
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Decode(data, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeReference is the encoding/json implementation DecodeEvent had before Decoder.
func BenchmarkDecodeReference(b *testing.B) {
	recs := benchRecords(b)
	for _, name := range benchNames {
		data := recs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := decodeEventReference(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	for _, name := range []string{"delta_four_levels", "trade_buy", "snapshot_noncanonical"} {
		data, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := DecodeEvent(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeEventRejected(b *testing.B) {
	data := []byte(`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["abc","1"]]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkParseDecimal(b *testing.B) {
	for _, s := range []string{"43000.1", "0.0015", "43000.100000", "9223372036854775807", "1e-3"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseDecimal(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendDecimal(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendDecimal(buf[:0], 43000100, 3)
	}
}

func benchBook(n int) *BookMessage {
	m := &BookMessage{Type: TypeUpdate, Symbol: "BTC-USD", Seq: 1201, PrevSeq: 1200, Time: "2026-11-24T10:00:00.123456789Z",
		PriceExp: 2, SizeExp: 8, Checksum: 123456789}
	for i := range n {
		m.Bids = append(m.Bids, IntLevel{4300010 - int64(i), 150000000 + int64(i)*1234567})
		m.Asks = append(m.Asks, IntLevel{4300020 + int64(i), 250000000 + int64(i)*7654321})
	}
	return m
}

func BenchmarkAppendBookMessage(b *testing.B) {
	for _, tc := range []struct {
		name string
		m    *BookMessage
	}{{"update_2x2", benchBook(2)}, {"snapshot_25x25", func() *BookMessage { m := benchBook(25); m.Type = TypeSnapshot; return m }()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				buf = AppendBookMessage(buf[:0], tc.m)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkChecksum(b *testing.B) {
	m := benchBook(ChecksumDepth)
	b.ReportAllocs()
	for b.Loop() {
		Checksum(m.Bids, m.Asks, m.PriceExp, m.SizeExp)
	}
}

func BenchmarkAppendString(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendString(buf[:0], "no such symbol: \"FOO-BAR\"\n")
	}
}
