package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/schema"
)

// deepDelta is a delta of sym adding n levels of size 1 below price floor, each within the record limits.
func deepDelta(sym string, seq uint64, floor, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":"delta","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","bids":[`, sym, seq)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `["%d.%04d","1"]`, floor-1-i/10000, 9999-i%10000)
	}
	b.WriteString(`]}`)
	return b.String()
}

// A symbol whose deltas pile levels below its book (the most each record may carry, fifty times) is
// refused past the level limit and goes stale; the other symbol on its shard keeps going, its next delta
// applied within a bound that does not depend on how much the first one sent.
func TestPathologicalSymbolDoesNotStallItsShard(t *testing.T) {
	m := testkit.NewMetrics()
	p := newTestPipeline(t, Config{Shards: 1, QueueSize: 64, Meter: m.Provider.Meter("t")}, &enginetest.Recorder{})
	const bad, good = "BAD", "GOOD"
	submitAll(t, p, enginetest.Snap(bad, 1, enginetest.L("100000:1"), enginetest.L("100001:1")), enginetest.Snap(good, 1, enginetest.L("10:1"), enginetest.L("11:1")))
	ctx := context.Background()
	start := time.Now()
	for i := range 50 {
		v := deepDelta(bad, uint64(2+i), 100000-2*i, schema.MaxLevels)
		if err := p.Submit(ctx, Record{Offset: int64(i), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Submit(ctx, Record{Offset: 100, Value: []byte(enginetest.Delta(good, 2, enginetest.L("9:1"), nil))}); err != nil {
		t.Fatal(err)
	}
	// The bound is generous (a loaded machine); without the limit the writer needs minutes.
	const bound = 20 * time.Second
	want := "live=true seq=2 10:1,9:1|11:1"
	deadline := time.Now().Add(bound)
	for {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		var got string
		err := p.Do(dctx, good, func(b *book.Book) {
			got = fmt.Sprintf("live=%v seq=%d %s", b.Live(), b.Seq(), enginetest.BookString(b))
		})
		cancel()
		if err == nil && got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOOD's delta not applied %v after BAD's deltas (book %q, err %v)", bound, got, err)
		}
	}
	t.Logf("GOOD's delta applied %v after the first of BAD's deltas", time.Since(start))
	if got := enginetest.BookOf(p.Do, bad); !strings.HasPrefix(got, "live=false seq=1 ") {
		t.Errorf("BAD book = %.60q, want stale at seq 1", got)
	}
	if got := m.Value(t, MetricRejected, "reason=too_many_levels"); got != 1 {
		t.Errorf("%s{reason=too_many_levels} = %d, want 1", MetricRejected, got)
	}
	// A snapshot within the limit brings BAD back.
	submitAll(t, p, enginetest.Snap(bad, 60, enginetest.L("100000:1"), enginetest.L("100001:1")))
	if got := enginetest.BookOf(p.Do, bad); got != "live=true seq=60 100000:1|100001:1" {
		t.Errorf("BAD book after a snapshot = %q", got)
	}
}
