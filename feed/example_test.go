package feed_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
)

// A feed is put together in one order: its Hub first, then the books whose writers publish to the Hub (here
// an engine.Pipeline fed by hand; a node uses the Kafka consumer), then the Server over both. The feed then
// serves what the writers apply, here the book of one upstream snapshot through GET /v1/book.
func ExampleNew() {
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
	_ = pipe.Submit(ctx, engine.Record{Key: []byte("BTC-USD"), Value: []byte(`{"type":"snapshot","symbol":"BTC-USD","seq":100,` +
		`"time":"2026-11-24T10:00:00.000000001Z","bids":[["43000.10","2"],["42999","1.5"]],"asks":[["43000.2","1.0"]]}`)})
	_ = pipe.Flush(ctx)

	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() { _ = srv.Shutdown(ctx) }()
	resp, err := ts.Client().Get(ts.URL + "/v1/book/BTC-USD?depth=10")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output:
	// {"type":"snapshot","channel":"book","symbol":"BTC-USD","seq":100,"time":"2026-11-24T10:00:00.000000001Z","bids":[["43000.1","2"],["42999","1.5"]],"asks":[["43000.2","1"]],"checksum":2185181894}
}
