package feed_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
)

// The feed is created first, with a Books that reaches the book writer once it exists (here ingest.LateBooks,
// whose pipeline is set after); the writer is created with the feed as its Publisher. The feed then serves
// what the writer applies, here the book of one upstream snapshot through GET /v1/book.
func ExampleNew() {
	books := &ingest.LateBooks{}
	srv, err := feed.New(feed.Config{Logger: quietLogger()}, books)
	if err != nil {
		panic(err)
	}
	pipe, err := engine.New(engine.Config{Shards: 1, Logger: quietLogger()}, srv)
	if err != nil {
		panic(err)
	}
	defer pipe.Close()
	books.Set(pipe)

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
