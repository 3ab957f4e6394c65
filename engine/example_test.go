package engine_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/schema"
)

// printer is a Publisher that prints what the writers do.
type printer struct{}

func (printer) PublishBook(b *book.Book, snapshot bool) {
	fmt.Printf("book %s seq=%d snapshot=%v levels=%d/%d\n", b.Symbol(), b.Seq(), snapshot, b.Len(book.Bids), b.Len(book.Asks))
}

func (printer) PublishTrade(b *book.Book, e *schema.Event) {
	fmt.Printf("trade %s seq=%d %s@%s\n", b.Symbol(), e.Seq, e.Size, e.Price)
}

func (printer) PublishStatus(b *book.Book) { fmt.Printf("status %s live=%v\n", b.Symbol(), b.Live()) }

// A Pipeline fed without Kafka, as a replay of a recording does.
func ExamplePipeline() {
	p, err := engine.New(engine.Config{Shards: 2, Logger: slog.New(slog.DiscardHandler)}, printer{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx := context.Background()
	for i, v := range []string{
		`{"type":"snapshot","symbol":"BTC-USD","seq":100,"time":"2026-11-24T10:00:00Z","bids":[["43000.1","2"]],"asks":[["43000.2","1.5"]]}`,
		`{"type":"delta","symbol":"BTC-USD","seq":101,"time":"2026-11-24T10:00:01Z","bids":[["43000.1","0"]],"asks":[["43000.3","4"]]}`,
		`{"type":"delta","symbol":"BTC-USD","seq":101,"time":"2026-11-24T10:00:01Z","bids":[],"asks":[]}`,
		`{"type":"trade","symbol":"BTC-USD","seq":102,"time":"2026-11-24T10:00:02Z","price":"43000.2","size":"0.5","side":"buy","trade_id":"t-1"}`,
		`not json`,
	} {
		if err := p.Submit(ctx, engine.Record{Offset: int64(i), Value: []byte(v)}); err != nil {
			panic(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		panic(err)
	}
	_ = p.Do(ctx, "BTC-USD", func(b *book.Book) {
		fmt.Printf("Do: live=%v seq=%d checksum=%d\n", b.Live(), b.Seq(), b.Checksum(0))
	})
	// Output:
	// status BTC-USD live=false
	// book BTC-USD seq=100 snapshot=true levels=1/1
	// book BTC-USD seq=101 snapshot=false levels=0/2
	// trade BTC-USD seq=102 0.5@43000.2
	// Do: live=true seq=101 checksum=3090117584
}
