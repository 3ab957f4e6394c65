package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/internal/enginetest"
)

// BenchmarkSubmit is the pipeline's part of ingest: one goroutine submits 1–2-level deltas over 100
// symbols, as a partition reader does, and the writers apply them (the Publisher does nothing).
func BenchmarkSubmit(b *testing.B) {
	const nsyms = 100
	p, err := New(Config{}, enginetest.Discard{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	seq := make([]uint64, nsyms)
	for i := range nsyms {
		sym := fmt.Sprintf("SYM%03d-USD", i)
		seq[i] = 1
		v := enginetest.Snap(sym, 1, enginetest.L("99.5:1", "99:2", "98.5:3"), enginetest.L("100.5:1", "101:2", "101.5:3"))
		if err := p.Submit(ctx, Record{Value: []byte(v)}); err != nil {
			b.Fatal(err)
		}
	}
	// 4096 record templates cycled, each split around its seq; each symbol's seq keeps going up, so every
	// delta is applied. Building a record is an append of three pieces, the same for any pipeline.
	const nrec = 4096
	type tmpl struct {
		sym           int
		before, after string
	}
	tmpls := make([]tmpl, nrec)
	for i := range tmpls {
		sym := i % nsyms
		bids := enginetest.L(fmt.Sprintf("%d.%d:%d", 90+i%9, (i/9)%10, 1+i%7))
		var asks []string
		if i%2 == 1 {
			asks = enginetest.L(fmt.Sprintf("%d.%d:%d", 101+i%9, (i/9)%10, 1+i%5))
		}
		v := enginetest.Delta(fmt.Sprintf("SYM%03d-USD", sym), 987654321, bids, asks)
		k := strings.Index(v, "987654321")
		tmpls[i] = tmpl{sym: sym, before: v[:k], after: v[k+9:]}
	}
	bufs := make([][]byte, 64) // rotated, though a record is not read once Submit has returned
	for i := range bufs {
		bufs[i] = make([]byte, 0, 256)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t := &tmpls[i%nrec]
		seq[t.sym]++
		v := append(strconv.AppendUint(append(bufs[i%len(bufs)][:0], t.before...), seq[t.sym], 10), t.after...)
		bufs[i%len(bufs)] = v
		if err := p.Submit(ctx, Record{Offset: int64(i), Value: v}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
