// Package schema holds depthcast's wire formats (docs/protocol.md): the decoding and validation of upstream
// events read from Kafka (DecodeEvent and Decoder, docs/protocol.md §1), the fixed-point Decimal with its parser
// (ParseDecimal) and canonical formatter (AppendDecimal, Decimal.String: no exponent, no trailing zeros, no
// trailing point), the encoders of the messages sent to WebSocket clients (AppendBookMessage, AppendTrade,
// AppendStatus, AppendSubscribed, AppendError, AppendHeartbeat, AppendPong, AppendString, docs/protocol.md §2),
// and the book checksum (Checksum).
//
// The package is pure: it starts no goroutines, does no I/O, reads no clock and writes no logs. Times are
// passed in by the caller as strings; errors are returned, never logged. It keeps no mutable package state,
// so every function and method is safe for concurrent use, except those of a Decoder: it holds the scratch
// buffers and symbol cache of one reader, so each reader goroutine keeps its own. The Append functions write
// only to the slice they are given, which the caller must not share while they run.
//
// Decoding is strict where the contract is: prices and sizes are decimal strings (never JSON numbers),
// prices are positive, sizes non-negative (positive in snapshots and trades), snapshots are neither crossed
// nor repeat a price, times are RFC 3339 and are normalized to UTC. A rejected record returns an
// *EventError whose Reason is a small fixed set fit for a metric attribute. Decoding is lenient where
// encoding/json is: unknown fields are ignored, field names match case-insensitively, and elements of a
// level after the price and size are ignored.
package schema
