package schema

import (
	"errors"
	"fmt"
	"time"
)

// EventType is the kind of an upstream event.
type EventType uint8

// The upstream event types.
const (
	EventSnapshot EventType = iota + 1 // the whole book of a symbol
	EventDelta                         // changed levels; size 0 deletes a level
	EventTrade                         // a trade print; does not change the book
)

// String returns the wire name of t ("snapshot", "delta", "trade").
func (t EventType) String() string {
	switch t {
	case EventSnapshot:
		return "snapshot"
	case EventDelta:
		return "delta"
	case EventTrade:
		return "trade"
	}
	return fmt.Sprintf("EventType(%d)", t)
}

// Side is the aggressor side of a trade.
type Side uint8

// Trade sides.
const (
	Buy Side = iota + 1
	Sell
)

// String returns "buy" or "sell".
func (s Side) String() string {
	switch s {
	case Buy:
		return "buy"
	case Sell:
		return "sell"
	}
	return fmt.Sprintf("Side(%d)", s)
}

// Level is one price level: a price and the total size resting at it.
type Level struct {
	Price Decimal
	Size  Decimal
}

// Event is one decoded and validated upstream event (docs/protocol.md §1).
type Event struct {
	Type   EventType
	Symbol string
	Seq    uint64
	// Time is the event time in canonical form: RFC 3339, UTC, up to nine fractional digits.
	Time string

	Bids, Asks []Level // snapshot and delta

	Price, Size Decimal // trade
	Side        Side    // trade
	TradeID     string  // trade
}

// Reason classifies why a record was rejected. It is the value of the metric attribute for rejected records,
// so the set is small and fixed.
type Reason string

// Rejection reasons.
const (
	ReasonJSON    Reason = "bad_json"    // not a JSON object of the expected shape
	ReasonType    Reason = "bad_type"    // missing or unknown "type"
	ReasonSymbol  Reason = "bad_symbol"  // missing, empty or over-long symbol
	ReasonSeq     Reason = "bad_seq"     // missing or zero seq
	ReasonTime    Reason = "bad_time"    // missing or not RFC 3339
	ReasonPrice   Reason = "bad_price"   // not a positive decimal
	ReasonSize    Reason = "bad_size"    // not a non-negative decimal (positive for trades and snapshots)
	ReasonSide    Reason = "bad_side"    // trade side other than buy or sell
	ReasonCrossed Reason = "crossed"     // best bid at or above best ask
	ReasonTooBig  Reason = "too_big"     // record or level count over the limits
	ReasonBook    Reason = "book_reject" // the book refused the event (scale overflow, crossed after a delta)
	// ReasonKeyMismatch is a record whose non-empty Kafka key is not its symbol. The decoder never returns
	// it (it sees only the value): the ingest pipeline, which has the key, does.
	ReasonKeyMismatch Reason = "key_mismatch"
	// ReasonTooManyLevels is an event that would leave a side of its book over the book's level limit;
	// the book refuses it (the ingest pipeline reports it) and goes stale until a snapshot.
	ReasonTooManyLevels Reason = "too_many_levels"
)

// Reasons lists every Reason, for metrics that show each at 0 before it first happens.
var Reasons = []Reason{ReasonJSON, ReasonType, ReasonSymbol, ReasonSeq, ReasonTime, ReasonPrice, ReasonSize, ReasonSide,
	ReasonCrossed, ReasonTooBig, ReasonBook, ReasonKeyMismatch, ReasonTooManyLevels}

// ErrInvalid is wrapped by every *EventError, for callers that only need to know a record was bad.
var ErrInvalid = errors.New("invalid event")

// EventError reports why a record could not be decoded or validated.
type EventError struct {
	Reason Reason
	Msg    string
}

func (e *EventError) Error() string { return string(e.Reason) + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *EventError) Unwrap() error { return ErrInvalid }

func invalid(r Reason, format string, a ...any) error {
	return &EventError{Reason: r, Msg: fmt.Sprintf(format, a...)}
}

// ReasonOf returns the Reason of an *EventError in err's chain, or ReasonJSON for any other error.
func ReasonOf(err error) Reason {
	var ee *EventError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return ReasonJSON
}

// Limits on one record. They keep a hostile or broken producer from making the feed allocate without bound.
const (
	MaxRecordBytes  = 4 << 20 // bytes in one record value
	MaxLevels       = 20000   // levels per side in one event
	MaxSymbolLength = 64      // bytes in a symbol
	MaxTradeIDBytes = 128     // bytes in a trade id
)

// DecodeEvent decodes and validates one Kafka record value. The error, if any, is an *EventError.
// Prices must be positive; sizes must not be negative (a zero size in a delta deletes the level); snapshot
// levels must have positive sizes, no repeated prices, and must not be crossed. It is a one-shot Decoder.Decode
// into a fresh Event; a reader that decodes many records should keep a Decoder instead.
func DecodeEvent(data []byte) (Event, error) {
	d := Decoder{noCache: true}
	var ev Event
	if err := d.Decode(data, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func validSymbol(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}

// FormatTime formats t as RFC 3339 in UTC with up to nine fractional digits, trailing zeros dropped.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
