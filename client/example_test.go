package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/node"
)

// exampleFeed starts a node whose BTC-USD book holds one upstream snapshot, and returns its WebSocket URL
// and a function that stops it.
func exampleFeed() (string, func()) {
	var books *engine.Pipeline
	n, err := node.New(node.Config{Listen: "127.0.0.1:0", Logger: quietLogger(),
		Input: func(pub engine.Publisher) (node.Input, error) { // fed by hand here; serve reads Kafka
			p, err := engine.New(engine.Config{Shards: 1, Logger: quietLogger()}, pub)
			books = p
			return p, err
		}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	go func() { _ = n.Run(ctx) }()
	<-n.Started()
	_ = books.Submit(ctx, engine.Record{Key: []byte("BTC-USD"), Value: []byte(`{"type":"snapshot","symbol":"BTC-USD","seq":100,` +
		`"time":"2026-11-24T10:00:00Z","bids":[["43000.10","2"],["42999","1.5"]],"asks":[["43000.2","1.0"]]}`)})
	_ = books.Flush(ctx)
	return "ws://" + n.Addr() + "/ws", func() { _ = n.Close() }
}

// Dial, subscribe to the top 10 levels of a book, and read events until the first book arrives.
func ExampleDial() {
	url, stop := exampleFeed()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, url, client.Config{Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.SubscribeBook(ctx, client.BookOptions{Depth: 10}, "BTC-USD"); err != nil {
		panic(err)
	}
	for ev := range c.Events() {
		if be, ok := ev.(client.BookEvent); ok {
			bid, _ := be.Book.BestBid()
			ask, _ := be.Book.BestAsk()
			spread, _ := be.Book.Spread()
			fmt.Printf("%s seq %d: bid %s x %s, ask %s x %s, spread %s, checksum ok %v\n", be.Book.Symbol, be.Book.Seq,
				bid.Price, bid.Size, ask.Price, ask.Size, spread, be.Book.ChecksumOK)
			break
		}
	}
	// Output:
	// BTC-USD seq 100: bid 43000.1 x 2, ask 43000.2 x 1, spread 0.1, checksum ok true
}

// The feed's refusal of a request comes back from Subscribe as a *ServerError.
func ExampleClient_SubscribeBook_unknownSymbol() {
	url, stop := exampleFeed()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, url, client.Config{Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	err = c.SubscribeBook(ctx, client.BookOptions{}, "NOPE-USD")
	var se *client.ServerError
	if errors.As(err, &se) {
		fmt.Println(se.Code)
	}
	// Output:
	// unknown_symbol
}

// CloseCode tells how the feed closed a connection; the *CloseError helpers say what to do about it.
func ExampleCloseError() {
	err := fmt.Errorf("reading: %w", &client.CloseError{Code: 1013, Reason: "slow consumer: 8388608 bytes queued"})
	var ce *client.CloseError
	if errors.As(err, &ce) {
		fmt.Println(client.CloseCode(err), ce.RetryLater(), ce.Policy(), ce.GoingAway())
	}
	// Output:
	// 1013 true false false
}
