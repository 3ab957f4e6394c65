package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/schema"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

func lv(px, sz string) schema.Level {
	return schema.Level{Price: mustDec(px), Size: mustDec(sz)}
}

func mustDec(s string) schema.Decimal {
	d, err := schema.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d.Canonical()
}

// The tail ladder's layout on fixed frames, against golden files in testdata/ (go test -run
// TestFormatLadder -update rewrites them): prices, sizes and cumulative sizes aligned on the decimal point
// whatever their number of decimals, mid and spread in bps, sizes changed since the last frame
// highlighted, the disconnected state spelled out above a dimmed last book, and no book yet.
func TestFormatLadder(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 1, 500_000_000, time.UTC)
	book := client.BookView{Symbol: "BTC-USD", Seq: 1042, Time: at, Status: client.StatusLive,
		Bids: []schema.Level{lv("42999.5", "1.25"), lv("42999", "0.004"), lv("42990.75", "12")},
		Asks: []schema.Level{lv("43000", "0.5"), lv("43000.25", "3.125"), lv("43100", "100")}}
	prev := book
	prev.Seq = 1041
	prev.Bids = []schema.Level{lv("42999.5", "1.25"), lv("42999", "0.5"), lv("42990.75", "12")}
	prev.Asks = []schema.Level{lv("43000.25", "3.125"), lv("43100", "100")}
	trades := []client.TradeEvent{
		{Symbol: "BTC-USD", Seq: 7, Time: at.Add(-time.Second), Price: mustDec("42999.5"), Size: mustDec("0.01"), Side: "sell"},
		{Symbol: "BTC-USD", Seq: 8, Time: at, Price: mustDec("43000"), Size: mustDec("1.5"), Side: "buy"},
	}
	connected := client.StateEvent{State: client.StateConnected}
	for _, tc := range []struct {
		name  string
		frame ladderFrame
	}{
		{"live", ladderFrame{Symbol: "BTC-USD", Conn: connected, Now: at, Book: book, Trades: trades}},
		{"live-changes-color", ladderFrame{Symbol: "BTC-USD", Conn: connected, Now: at, Book: book, Prev: prev, Color: true}},
		{"integers", ladderFrame{Symbol: "LOTS", Conn: connected, Now: at, Book: client.BookView{Symbol: "LOTS", Seq: 3, Time: at, Status: client.StatusLive,
			Bids: []schema.Level{lv("99", "7"), lv("98", "10")}, Asks: []schema.Level{lv("101", "1"), lv("1000", "2")}}}},
		{"one-tick", ladderFrame{Symbol: "BTC-USD", Conn: connected, Now: at, Book: client.BookView{Symbol: "BTC-USD", Seq: 9, Time: at, Status: client.StatusLive,
			Bids: []schema.Level{lv("42999.99", "0.5")}, Asks: []schema.Level{lv("43000", "0.25")}}}},
		{"waiting-snapshot", ladderFrame{Symbol: "ETH-USD", Conn: connected, Now: at}},
		{"disconnected", ladderFrame{Symbol: "BTC-USD", Now: at, LostAt: at.Add(-12 * time.Second), Book: book, Prev: prev, Color: true,
			Conn: client.StateEvent{State: client.StateWaiting, Delay: 2300 * time.Millisecond, Attempt: 3, Err: errors.New("dial tcp 127.0.0.1:8080: connection refused")}}},
		{"stale", ladderFrame{Symbol: "BTC-USD", Conn: connected, Now: at, Book: func() client.BookView { b := book; b.Status = client.StatusStale; return b }()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := formatLadder(tc.frame)
			path := filepath.Join("testdata", "ladder-"+tc.name+".golden")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestFormatLadder -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("formatLadder differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}
