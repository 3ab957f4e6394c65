package replay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/schema"
)

// printer is a Publisher that prints the best bid after each book change.
type printer struct{}

func (printer) PublishBook(b *book.Book, snapshot bool) {
	best := b.Top(book.Bids, 1, nil)
	fmt.Printf("%s seq %d best bid %s\n", b.Symbol(), b.Seq(), schema.AppendDecimal(nil, best[0].Price, b.PriceExp()))
}
func (printer) PublishTrade(*book.Book, *schema.Event) {}
func (printer) PublishStatus(*book.Book)               {}

// A Player applies what came before From silently, then plays the rest at the speed asked for.
func ExamplePlayer() {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	ev := func(i int, v string) engine.Record {
		return engine.Record{Offset: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Key: []byte("BTC-USD"), Value: []byte(v)}
	}
	src, _ := replay.NewMemory([]engine.Record{
		ev(0, `{"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["43000","1"]],"asks":[["43001","1"]]}`),
		ev(1, `{"type":"delta","symbol":"BTC-USD","seq":2,"time":"2026-11-24T10:00:01Z","bids":[["43000.5","2"]],"asks":[]}`),
		ev(2, `{"type":"delta","symbol":"BTC-USD","seq":3,"time":"2026-11-24T10:00:02Z","bids":[["43000.7","1"]],"asks":[]}`),
	})
	ctx := context.Background()
	p, err := replay.NewPlayer(ctx, replay.PlayerConfig{Source: src, From: t0.Add(time.Second), Speed: 0, Publisher: printer{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println("playing from 10:00:01")
	if err := p.Run(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// BTC-USD seq 1 best bid 43000
	// playing from 10:00:01
	// BTC-USD seq 2 best bid 43000.5
	// BTC-USD seq 3 best bid 43000.7
}
