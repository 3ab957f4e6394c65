package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// nopPublisher takes every call and does nothing.
type nopPublisher struct{}

func (nopPublisher) PublishBook(*book.Book, bool)           {}
func (nopPublisher) PublishTrade(*book.Book, *schema.Event) {}
func (nopPublisher) PublishStatus(*book.Book)               {}

// BenchmarkSubmit is the pipeline's part of ingest: one goroutine submits 1–2-level deltas over 100
// symbols, as a partition reader does, and the writers apply them (the Publisher does nothing).
func BenchmarkSubmit(b *testing.B) {
	const nsyms = 100
	p, err := NewPipeline(PipelineConfig{}, nopPublisher{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	seq := make([]uint64, nsyms)
	for i := range nsyms {
		sym := fmt.Sprintf("SYM%03d-USD", i)
		seq[i] = 1
		v := snap(sym, 1, L("99.5:1", "99:2", "98.5:3"), L("100.5:1", "101:2", "101.5:3"))
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
		bids := L(fmt.Sprintf("%d.%d:%d", 90+i%9, (i/9)%10, 1+i%7))
		var asks []string
		if i%2 == 1 {
			asks = L(fmt.Sprintf("%d.%d:%d", 101+i%9, (i/9)%10, 1+i%5))
		}
		v := delta(fmt.Sprintf("SYM%03d-USD", sym), 987654321, bids, asks)
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

// BenchmarkConsumer is the ingest scenario in small: one partition of an in-process kfake broker holds a
// snapshot of each of 100 symbols, then 1–2-level deltas; each iteration runs a Consumer from the start of
// the partition until Ready (all applied), with a Publisher that does nothing. The timer stops at Ready.
func BenchmarkConsumer(b *testing.B) {
	const nsyms, nrec = 100, 20_000
	k, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopic))
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.ListenAddrs()...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, 0, nrec)
	for i := range nsyms {
		recs = append(recs, &kgo.Record{Value: []byte(snap(fmt.Sprintf("SYM%03d-USD", i), 1, L("99.5:1", "99:2"), L("100.5:1", "101:2")))})
	}
	for i := nsyms; i < nrec; i++ {
		var asks []string
		if i%2 == 1 {
			asks = L(fmt.Sprintf("%d.%d:%d", 101+i%9, (i/9)%10, 1+i%5))
		}
		v := delta(fmt.Sprintf("SYM%03d-USD", i%nsyms), uint64(1+i/nsyms), L(fmt.Sprintf("%d.%d:%d", 90+i%9, (i/9)%10, 1+i%7)), asks)
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	err = cl.ProduceSync(context.Background(), recs...).FirstErr()
	cl.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StartTimer()
		c, err := New(Config{Brokers: k.ListenAddrs(), Topic: testTopic, Start: StartEarliest,
			Logger: slog.New(slog.DiscardHandler)}, nopPublisher{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for !c.Ready() {
			time.Sleep(100 * time.Microsecond)
		}
		b.StopTimer() // the stop waits for the reader's last fetch (MaxWait): not part of the figure
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nrec), "ns/record")
}
