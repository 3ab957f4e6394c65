package feed_test

import (
	"context"
	"fmt"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
)

// Stats is what GET /v1/stats answers: here one live symbol, one stale, and no connection yet.
func ExampleServer_Stats() {
	hub, err := feed.NewHub(feed.HubConfig{})
	if err != nil {
		panic(err)
	}
	pipe, err := engine.New(engine.Config{Shards: 1, Logger: quietLogger()}, hub)
	if err != nil {
		panic(err)
	}
	defer pipe.Close()
	srv, err := feed.New(feed.Config{Logger: quietLogger()}, hub, pipe)
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	_ = pipe.Submit(ctx, engine.Record{Key: []byte("BTC-USD"), Value: []byte(`{"type":"snapshot","symbol":"BTC-USD","seq":1,` +
		`"time":"2026-11-24T10:00:00Z","bids":[["43000.1","2"]],"asks":[["43000.2","1"]]}`)})
	_ = pipe.Submit(ctx, engine.Record{Key: []byte("ETH-USD"), Value: []byte(`{"type":"delta","symbol":"ETH-USD","seq":7,` +
		`"time":"2026-11-24T10:00:00Z","bids":[["2310","1"]],"asks":[]}`)})
	_ = pipe.Flush(ctx)

	st := srv.Stats()
	fmt.Printf("connections %d, subscriptions %d, closes %d\n", st.Connections, st.Subscriptions, len(st.Closes))
	fmt.Printf("symbols %d: %d live, %d stale\n", st.Symbols.Total, st.Symbols.Live, st.Symbols.Stale)
	// Output:
	// connections 0, subscriptions 0, closes 0
	// symbols 2: 1 live, 1 stale
}
