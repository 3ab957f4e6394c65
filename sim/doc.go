// Package sim is a simulated exchange: it generates realistic, deterministic order flow for a set of symbols
// as the Kafka JSON records of docs/protocol.md §1, and can write them to a Kafka topic.
//
// An Exchange keeps one order book per symbol in integer ticks and lots. Next returns one event at a time:
// the first event of every symbol is a full snapshot, then come deltas (1–4 levels as a rule: size changes,
// new levels inside the spread or behind the touch, deletes with size "0", and moves of the mid that delete,
// in the same delta, every level the move would cross), trades at the touch (each followed by the delta that
// takes the traded size out of the book), and a full re-snapshot every Config.ResnapshotEvery events of a
// symbol. The book is never crossed. Every event of a symbol carries seq = previous + 1, starting at 1.
// Record keys are symbols. Prices and sizes are decimal strings; about one event in five writes them with
// all their decimals ("43000.10", "0.5000") as fixed-precision gateways do, the others canonically.
//
// Times come from a simulated clock that starts at Epoch and advances 1–10 µs per event, so the same
// Config (same Seed) gives byte-identical events; Config.Clock substitutes another clock, such as time.Now
// for a live demo, without changing anything else.
//
// Book returns the exchange's own view of a symbol's book, which a consumer that applied every event must
// equal; tests compare the feed against it.
//
// Run writes an exchange's events to Kafka with a kafka-go Writer at a given rate, keyed by symbol and
// partitioned with murmur2 like the Java client, so that each symbol stays on one partition and in order.
// It does not create the topic unless WriterConfig.CreateTopic is set.
package sim
