package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/enginetest"
)

func TestBatcherOrderAndNext(t *testing.T) {
	rec := &enginetest.Recorder{}
	p := newTestPipeline(t, Config{Shards: 3, QueueSize: 16}, rec) // batches of 8, two per shard
	if p.batchSize != 8 {
		t.Fatalf("batch size %d, want 8", p.batchSize)
	}
	ctx := context.Background()
	b := p.NewBatcher()
	syms := []string{"A", "B", "C", "D", "E"}
	var off int64
	add := func(v string) {
		t.Helper()
		if err := b.Add(ctx, Record{Offset: off, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
		off++
	}
	for _, s := range syms {
		add(enginetest.Snap(s, 1, enginetest.L("1:1"), enginetest.L("1000:1")))
	}
	if got := b.Next(); got != 0 {
		t.Errorf("next with every event held = %d, want 0", got)
	}
	add(`{"type":"delta"`) // rejected: counted as handled
	for seq := uint64(2); seq <= 40; seq++ {
		for _, s := range syms {
			add(enginetest.Delta(s, seq, enginetest.L(fmt.Sprintf("%d:1", seq)), nil))
		}
	}
	add(enginetest.Trade("A", 41, "5", "1")) // A's shard holds at least this one
	if b.n == 0 || b.n > 3*8 {
		t.Errorf("%d events held, want some and at most one batch per shard", b.n)
	}
	first := int64(-1)
	for _, eb := range b.cur {
		if eb != nil && (first < 0 || eb.ents[0].rec.Offset < first) {
			first = eb.ents[0].rec.Offset
		}
	}
	if got := b.Next(); got != first {
		t.Errorf("next = %d, want the first held offset %d", got, first)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.n != 0 || b.Next() != off {
		t.Errorf("after flush: %d held, next %d; want 0 held, next %d", b.n, b.Next(), off)
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
	rec := &enginetest.Recorder{Block: make(chan struct{})}
	p := newTestPipeline(t, Config{Shards: 1, QueueSize: 8}, rec) // batches of 4, two buffers
	ctx := context.Background()
	b := p.NewBatcher()
	vals := []string{enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("1000:1"))}
	for seq := uint64(2); seq <= 9; seq++ {
		vals = append(vals, enginetest.Delta("A", seq, enginetest.L(fmt.Sprintf("%d:1", seq)), nil))
	}
	// The first batch goes to the writer, which blocks in PublishBook; the second is queued. The ninth
	// event finds no free buffer and waits.
	for i, v := range vals[:8] {
		if err := b.Add(ctx, Record{Offset: int64(i), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := b.Add(short, Record{Offset: 8, Value: []byte(vals[8])}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("add with both buffers in use = %v, want it to wait until the deadline", err)
	}
	if got := b.Next(); got != 8 {
		t.Errorf("next = %d, want 8 (the refused record is not handed over)", got)
	}
	close(rec.Block)
	if err := b.Add(ctx, Record{Offset: 8, Value: []byte(vals[8])}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := enginetest.BookOf(p.Do, "A"); got != "live=true seq=9 9:1,8:1,7:1,6:1,5:1,4:1,3:1,2:1,1:1|1000:1" {
		t.Errorf("book = %q", got)
	}
}

func TestBatcherStopsOnClose(t *testing.T) {
	p := newTestPipeline(t, Config{Shards: 1, QueueSize: 1}, &enginetest.Recorder{})
	b := p.NewBatcher()
	ctx := context.Background()
	if err := b.Add(ctx, Record{Value: []byte(enginetest.Snap("A", 1, enginetest.L("1:1"), enginetest.L("9:1")))}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	err := b.Add(ctx, Record{Offset: 1, Value: []byte(enginetest.Delta("A", 2, enginetest.L("2:1"), nil))})
	if err == nil {
		err = b.Flush(ctx)
	}
	if !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	b.Drop()
}
