package sim_test

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/depthcast/depthcast/sim"
)

func Example() {
	x, err := sim.New(sim.Config{Symbols: 2, Levels: 2, Seed: 7})
	if err != nil {
		panic(err)
	}
	fmt.Println(x.Symbols())
	for range 4 {
		ev := x.Next()
		fmt.Printf("%s %s\n", ev.Key, ev.Value)
	}
	bids, asks := x.Book("BTC-USD")
	fmt.Println("BTC-USD best bid", bids[0], "best ask", asks[0])
	// Output:
	// [BTC-USD ETH-USD]
	// BTC-USD {"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00.000005735Z","bids":[["42999.99","2.2703"],["42999.98","0.9891"]],"asks":[["43000.01","2.4262"],["43000.02","0.3657"]]}
	// ETH-USD {"type":"snapshot","symbol":"ETH-USD","seq":1,"time":"2026-11-24T10:00:00.000008736Z","bids":[["2300","19.597"],["2299.99","1.475"]],"asks":[["2300.01","2.527"],["2300.02","25.396"]]}
	// ETH-USD {"type":"delta","symbol":"ETH-USD","seq":2,"time":"2026-11-24T10:00:00.000011839Z","bids":[],"asks":[["2300.01","6.481"]]}
	// BTC-USD {"type":"delta","symbol":"BTC-USD","seq":2,"time":"2026-11-24T10:00:00.000019923Z","bids":[],"asks":[["43000","1.3311"],["43000.02","0"]]}
	// BTC-USD best bid [42999.99 2.2703] best ask [43000 1.3311]
}

// ExampleRun writes simulated events to a Kafka cluster at 2000 events per second until interrupted.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	x, err := sim.New(sim.Config{Symbols: 16, Seed: 42})
	if err != nil {
		log.Fatal(err)
	}
	err = sim.Run(ctx, x, sim.WriterConfig{
		Brokers:     []string{"localhost:9092"},
		Topic:       "md.events",
		Rate:        sim.DefaultRate,
		Compression: "zstd",
		CreateTopic: true,
	})
	if err != nil {
		log.Fatal(err)
	}
}
