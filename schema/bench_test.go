package schema

import (
	"os"
	"path/filepath"
	"testing"
)

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
