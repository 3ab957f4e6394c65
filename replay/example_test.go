package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/replay"
)

// Record a few records, then read them back.
func Example() {
	dir, err := os.MkdirTemp("", "recording")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		v := fmt.Sprintf(`{"type":"trade","symbol":"BTC-USD","seq":%d,"time":"2026-11-24T10:00:0%dZ","price":"43000","size":"1","side":"buy","trade_id":"t%d"}`, i+1, i, i)
		if err := rec.Write(engine.Record{Partition: 0, Offset: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Key: []byte("BTC-USD"), Value: []byte(v)}); err != nil {
			panic(err)
		}
	}
	if err := rec.Close(); err != nil { // writes the open block and the index
		panic(err)
	}

	r, err := replay.OpenDir(dir)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	first, last, err := r.Range(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println("range", first.Format(time.TimeOnly), "to", last.Format(time.TimeOnly))
	c, err := r.Open(context.Background(), time.Time{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for {
		rec, err := c.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Partition, rec.Offset, rec.Time.Format(time.TimeOnly), string(rec.Key))
	}
	// Output:
	// range 10:00:00 to 10:00:02
	// 0 0 10:00:00 BTC-USD
	// 0 1 10:00:01 BTC-USD
	// 0 2 10:00:02 BTC-USD
}
