package sim

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config. A zero field takes its default.
const (
	DefaultSymbols         = 8
	DefaultLevels          = 50
	DefaultSeed            = 1
	DefaultResnapshotEvery = 5000
	DefaultTradeRatio      = 0.15

	MaxSymbols = 1000
	MaxLevels  = 10000
)

// Epoch is the instant the simulated clock starts at: the time of the first event when Config.Clock is nil.
var Epoch = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Config configures an Exchange. The zero value is valid and gives the documented defaults.
type Config struct {
	// Symbols is the number of symbols, 1..1000 (default 8). The first eight are BTC-USD, ETH-USD, SOL-USD,
	// DOGE-USD, XRP-USD, ADA-USD, AVAX-USD and LINK-USD with realistic prices, tick sizes and lot sizes; the
	// rest are SYM9-USD, SYM10-USD, … with made-up ones.
	Symbols int
	// Levels is the number of levels per side of a book (default 50, at most 10000). The exchange keeps each
	// side at no more than Levels levels (deleting the farthest in the same delta), so a snapshot carries at
	// most Levels levels per side.
	Levels int
	// Seed selects the event stream (default 1; 0 means 1). The same Config gives the same bytes.
	Seed int64
	// ResnapshotEvery is the number of events of a symbol after which it gets a full re-snapshot (default
	// 5000). A negative value disables re-snapshots: each symbol then has only its first snapshot.
	ResnapshotEvery int
	// TradeRatio is the share of events that are trades, at most 0.5 (default 0.15; 0 means the default, a
	// negative value means no trades). Each trade is followed by the delta that takes its size out of the
	// book, so at most half of the events can be trades.
	TradeRatio float64
	// Clock, when set, gives the time of each event instead of the simulated clock (for example time.Now in
	// a live demo). The simulated clock starts at Epoch and advances 1–10 µs per event. The clock does not
	// affect anything else: prices, sizes and the order of events are the same either way.
	Clock func() time.Time
}

// Validate reports a field out of range. Zero fields are valid (they take their defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Symbols < 0 || c.Symbols > MaxSymbols {
		errs = append(errs, fmt.Errorf("sim: Symbols %d out of range 1..%d", c.Symbols, MaxSymbols))
	}
	if c.Levels < 0 || c.Levels > MaxLevels {
		errs = append(errs, fmt.Errorf("sim: Levels %d out of range 1..%d", c.Levels, MaxLevels))
	}
	if c.TradeRatio > 0.5 || c.TradeRatio != c.TradeRatio {
		errs = append(errs, fmt.Errorf("sim: TradeRatio %v is above 0.5", c.TradeRatio))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Symbols == 0 {
		c.Symbols = DefaultSymbols
	}
	if c.Levels == 0 {
		c.Levels = DefaultLevels
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.ResnapshotEvery == 0 {
		c.ResnapshotEvery = DefaultResnapshotEvery
	}
	switch {
	case c.TradeRatio == 0:
		c.TradeRatio = DefaultTradeRatio
	case c.TradeRatio < 0:
		c.TradeRatio = 0
	}
	return c
}

// spec describes a symbol: its starting price in ticks, the number of decimals of a price (a tick is one unit
// of the last decimal) and of a size (a lot), and the range of a resting level's size in lots.
type spec struct {
	name             string
	price            int64
	priceExp         uint8
	sizeExp          uint8
	minSize, maxSize int64
}

var knownSpecs = []spec{
	{"BTC-USD", 4300000, 2, 4, 10, 50000},  // 43000.00, tick 0.01, sizes 0.001..5
	{"ETH-USD", 230000, 2, 3, 10, 80000},   // 2300.00, tick 0.01, sizes 0.01..80
	{"SOL-USD", 98500, 3, 2, 10, 100000},   // 98.500, tick 0.001, sizes 0.1..1000
	{"DOGE-USD", 8500, 5, 0, 100, 2000000}, // 0.08500, tick 0.00001, sizes 100..2000000
	{"XRP-USD", 6200, 4, 1, 100, 500000},   // 0.6200, tick 0.0001, sizes 10..50000
	{"ADA-USD", 5500, 4, 1, 100, 500000},   // 0.5500, tick 0.0001
	{"AVAX-USD", 3550, 2, 2, 10, 50000},    // 35.50, tick 0.01, sizes 0.1..500
	{"LINK-USD", 14500, 3, 2, 10, 100000},  // 14.500, tick 0.001, sizes 0.1..1000
}

// specFor returns the spec of the i-th symbol (0-based).
func specFor(i int) spec {
	if i < len(knownSpecs) {
		return knownSpecs[i]
	}
	s := spec{
		name:     fmt.Sprintf("SYM%d-USD", i+1),
		price:    2000 + int64(i*7919)%90000,
		priceExp: 2,
		sizeExp:  2,
		minSize:  10,
		maxSize:  100000,
	}
	if i%2 == 1 {
		s.priceExp = 3
	}
	return s
}
