package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBatcherOrderAndNext(t *testing.T) {
	rec := &recorder{}
	p := newTestPipeline(t, PipelineConfig{Shards: 3, QueueSize: 16}, rec) // batches of 8, two per shard
	if p.batchSize != 8 {
		t.Fatalf("batch size %d, want 8", p.batchSize)
	}
	ctx := context.Background()
	b := newBatcher(p)
	syms := []string{"A", "B", "C", "D", "E"}
	var off int64
	add := func(v string) {
		t.Helper()
		if err := b.add(ctx, Record{Offset: off, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
		off++
	}
	for _, s := range syms {
		add(snap(s, 1, L("1:1"), L("1000:1")))
	}
	if got := b.next(); got != 0 {
		t.Errorf("next with every event held = %d, want 0", got)
	}
	add(`{"type":"delta"`) // rejected: counted as handled
	for seq := uint64(2); seq <= 40; seq++ {
		for _, s := range syms {
			add(delta(s, seq, L(fmt.Sprintf("%d:1", seq)), nil))
		}
	}
	add(trade("A", 41, "5", "1")) // A's shard holds at least this one
	if b.n == 0 || b.n > 3*8 {
		t.Errorf("%d events held, want some and at most one batch per shard", b.n)
	}
	first := int64(-1)
	for _, eb := range b.cur {
		if eb != nil && (first < 0 || eb.ents[0].rec.Offset < first) {
			first = eb.ents[0].rec.Offset
		}
	}
	if got := b.next(); got != first {
		t.Errorf("next = %d, want the first held offset %d", got, first)
	}
	if err := b.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.n != 0 || b.next() != off {
		t.Errorf("after flush: %d held, next %d; want 0 held, next %d", b.n, b.next(), off)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		lines := rec.For(s)
		want := 41 // status, snapshot, 39 updates
		if s == "A" {
			want++ // and the trade
		}
		if len(lines) != want {
			t.Fatalf("%s: %d calls, want %d", s, len(lines), want)
		}
		for i, l := range lines[2:41] {
			if want := fmt.Sprintf("update %s %d ", s, i+2); len(l) < len(want) || l[:len(want)] != want {
				t.Fatalf("%s: call %d is %q, want it to start with %q (events in order)", s, i+2, l, want)
			}
		}
	}
}

func TestBatchBuffers(t *testing.T) {
	for _, tc := range []struct{ queue, size, n int }{
		{1, 1, 2}, {2, 1, 2}, {3, 1, 3}, {8, 4, 2}, {64, 32, 2}, {200, 100, 2}, {300, 128, 2}, {4096, 128, 32},
	} {
		size, n := batchBuffers(tc.queue)
		if size != tc.size || n != tc.n {
			t.Errorf("batchBuffers(%d) = %d, %d; want %d, %d", tc.queue, size, n, tc.size, tc.n)
		}
		if tc.queue > 1 && size*n > tc.queue {
			t.Errorf("batchBuffers(%d): %d buffers of %d hold more than the queue", tc.queue, n, size)
		}
	}
}

func TestBatcherBoundedByQueueSize(t *testing.T) {
	rec := &recorder{block: make(chan struct{})}
	p := newTestPipeline(t, PipelineConfig{Shards: 1, QueueSize: 8}, rec) // batches of 4, two buffers
	ctx := context.Background()
	b := newBatcher(p)
	vals := []string{snap("A", 1, L("1:1"), L("1000:1"))}
	for seq := uint64(2); seq <= 9; seq++ {
		vals = append(vals, delta("A", seq, L(fmt.Sprintf("%d:1", seq)), nil))
	}
	// The first batch goes to the writer, which blocks in PublishBook; the second is queued. The ninth
	// event finds no free buffer and waits.
	for i, v := range vals[:8] {
		if err := b.add(ctx, Record{Offset: int64(i), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.add(short, Record{Offset: 8, Value: []byte(vals[8])}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("add with both buffers in use = %v, want it to wait until the deadline", err)
	}
	if got := b.next(); got != 8 {
		t.Errorf("next = %d, want 8 (the refused record is not handed over)", got)
	}
	close(rec.block)
	if err := b.add(ctx, Record{Offset: 8, Value: []byte(vals[8])}); err != nil {
		t.Fatal(err)
	}
	if err := b.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bookOf(t, p.Do, "A"); got != "live=true seq=9 9:1,8:1,7:1,6:1,5:1,4:1,3:1,2:1,1:1|1000:1" {
		t.Errorf("book = %q", got)
	}
}

func TestBatcherStopsOnClose(t *testing.T) {
	p := newTestPipeline(t, PipelineConfig{Shards: 1, QueueSize: 1}, &recorder{})
	b := newBatcher(p)
	ctx := context.Background()
	if err := b.add(ctx, Record{Value: []byte(snap("A", 1, L("1:1"), L("9:1")))}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	err := b.add(ctx, Record{Offset: 1, Value: []byte(delta("A", 2, L("2:1"), nil))})
	if err == nil {
		err = b.flush(ctx)
	}
	if !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	b.drop()
}

// A fetch cut short by MaxBytes reports a high watermark past its last record, so the reader holds that
// record's event for the next fetch; when that fetch does not come back, the event must not wait for it.
func TestKafkaHeldEventsDoNotWaitForAStalledFetch(t *testing.T) {
	k := newTestCluster(t, 1)
	k.produce(t, snap("BTC-USD", 1, L("1:1"), L("9:1")))
	k.produce(t, delta("BTC-USD", 2, L("2:1"), nil)) // a second record batch
	var fetches atomic.Int64
	release := make(chan struct{})
	k.c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.c.KeepControl()
		if fetches.Add(1) == 1 {
			return nil, nil, false // the first fetch: one record batch (MaxBytes 1), high watermark 2
		}
		<-release // later fetches hang until the end of the test
		return nil, nil, false
	})
	defer close(release)
	c := newTestConsumer(t, k, Config{MinBytes: 1, MaxBytes: 1}, &recorder{})
	start := time.Now()
	stop := runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=1 1:1|9:1")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("snapshot applied %v after the start, want it without the next fetch", d)
	}
	if n := fetches.Load(); n < 2 {
		t.Errorf("%d fetches, want the second one waiting", n)
	}
	stop()
}
