package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkConsumer is the ingest scenario in small: one partition of an in-process kfake broker holds a
// snapshot of each of 100 symbols, then 1–2-level deltas; each iteration runs a Consumer from the start of
// the partition until Ready (all applied), with a engine.Publisher that does nothing. The timer stops at Ready.
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
		recs = append(recs, &kgo.Record{Value: []byte(enginetest.Snap(fmt.Sprintf("SYM%03d-USD", i), 1, enginetest.L("99.5:1", "99:2"), enginetest.L("100.5:1", "101:2")))})
	}
	for i := nsyms; i < nrec; i++ {
		var asks []string
		if i%2 == 1 {
			asks = enginetest.L(fmt.Sprintf("%d.%d:%d", 101+i%9, (i/9)%10, 1+i%5))
		}
		v := enginetest.Delta(fmt.Sprintf("SYM%03d-USD", i%nsyms), uint64(1+i/nsyms), enginetest.L(fmt.Sprintf("%d.%d:%d", 90+i%9, (i/9)%10, 1+i%7)), asks)
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
		c, err := New(Config{Brokers: k.ListenAddrs(), Topic: testTopic, Start: kafkatopic.Earliest,
			Logger: slog.New(slog.DiscardHandler)}, enginetest.Discard{})
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
