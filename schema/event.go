package schema

import (
	"bytes"
	"encoding/json"
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

// Event is one decoded and validated upstream event (PROTOCOL.md §1).
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
)

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

type wireEvent struct {
	Type    *string     `json:"type"`
	Symbol  *string     `json:"symbol"`
	Seq     *uint64     `json:"seq"`
	Time    *string     `json:"time"`
	Bids    [][2]string `json:"bids"`
	Asks    [][2]string `json:"asks"`
	Price   *string     `json:"price"`
	Size    *string     `json:"size"`
	Side    *string     `json:"side"`
	TradeID *string     `json:"trade_id"`
}

// DecodeEvent decodes and validates one Kafka record value. The error, if any, is an *EventError.
// Prices must be positive; sizes must not be negative (a zero size in a delta deletes the level); snapshot
// levels must have positive sizes, no repeated prices, and must not be crossed.
func DecodeEvent(data []byte) (Event, error) {
	if len(data) > MaxRecordBytes {
		return Event{}, invalid(ReasonTooBig, "record is %d bytes, limit %d", len(data), MaxRecordBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Event{}, invalid(ReasonJSON, "record is not a JSON object")
	}
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, invalid(ReasonJSON, "%v", err)
	}
	var ev Event
	if w.Type == nil {
		return Event{}, invalid(ReasonType, "missing type")
	}
	switch *w.Type {
	case "snapshot":
		ev.Type = EventSnapshot
	case "delta":
		ev.Type = EventDelta
	case "trade":
		ev.Type = EventTrade
	default:
		return Event{}, invalid(ReasonType, "unknown type %.40q", *w.Type)
	}
	if w.Symbol == nil || *w.Symbol == "" {
		return Event{}, invalid(ReasonSymbol, "missing symbol")
	}
	if len(*w.Symbol) > MaxSymbolLength || !validSymbol(*w.Symbol) {
		return Event{}, invalid(ReasonSymbol, "symbol %.70q is not 1..%d printable ASCII characters", *w.Symbol, MaxSymbolLength)
	}
	ev.Symbol = *w.Symbol
	if w.Seq == nil || *w.Seq == 0 {
		return Event{}, invalid(ReasonSeq, "missing or zero seq")
	}
	ev.Seq = *w.Seq
	if w.Time == nil {
		return Event{}, invalid(ReasonTime, "missing time")
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil {
		return Event{}, invalid(ReasonTime, "time %.40q is not RFC 3339", *w.Time)
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		// "0000-01-01T00:00:00+01:00" is year -1 in UTC, which RFC 3339 cannot write.
		return Event{}, invalid(ReasonTime, "time %.40q is outside years 0000..9999 in UTC", *w.Time)
	}
	ev.Time = FormatTime(t)
	switch ev.Type {
	case EventSnapshot, EventDelta:
		if len(w.Bids) > MaxLevels || len(w.Asks) > MaxLevels {
			return Event{}, invalid(ReasonTooBig, "%d bids and %d asks, limit %d a side", len(w.Bids), len(w.Asks), MaxLevels)
		}
		snap := ev.Type == EventSnapshot
		if ev.Bids, err = parseLevels(w.Bids, "bids", snap); err != nil {
			return Event{}, err
		}
		if ev.Asks, err = parseLevels(w.Asks, "asks", snap); err != nil {
			return Event{}, err
		}
		if snap {
			if err := checkSnapshot(ev.Bids, ev.Asks); err != nil {
				return Event{}, err
			}
		}
	case EventTrade:
		if ev.Price, err = parsePositive(w.Price, ReasonPrice, "price"); err != nil {
			return Event{}, err
		}
		if ev.Size, err = parsePositive(w.Size, ReasonSize, "size"); err != nil {
			return Event{}, err
		}
		switch {
		case w.Side == nil:
			return Event{}, invalid(ReasonSide, "missing side")
		case *w.Side == "buy":
			ev.Side = Buy
		case *w.Side == "sell":
			ev.Side = Sell
		default:
			return Event{}, invalid(ReasonSide, "side %.20q is not buy or sell", *w.Side)
		}
		if w.TradeID != nil {
			if len(*w.TradeID) > MaxTradeIDBytes {
				return Event{}, invalid(ReasonTooBig, "trade_id is %d bytes, limit %d", len(*w.TradeID), MaxTradeIDBytes)
			}
			ev.TradeID = *w.TradeID
		}
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

func parsePositive(s *string, r Reason, name string) (Decimal, error) {
	if s == nil {
		return Decimal{}, invalid(r, "missing %s", name)
	}
	d, err := ParseDecimal(*s)
	if err != nil {
		return Decimal{}, invalid(r, "%s: %v", name, err)
	}
	if d.Sign() <= 0 {
		return Decimal{}, invalid(r, "%s %.40q is not positive", name, *s)
	}
	return d, nil
}

func parseLevels(raw [][2]string, side string, snapshot bool) ([]Level, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]Level, len(raw))
	for i, l := range raw {
		p, err := ParseDecimal(l[0])
		if err != nil {
			return nil, invalid(ReasonPrice, "%s[%d] price: %v", side, i, err)
		}
		if p.Sign() <= 0 {
			return nil, invalid(ReasonPrice, "%s[%d] price %.40q is not positive", side, i, l[0])
		}
		s, err := ParseDecimal(l[1])
		if err != nil {
			return nil, invalid(ReasonSize, "%s[%d] size: %v", side, i, err)
		}
		if s.Sign() < 0 || (snapshot && s.Sign() == 0) {
			return nil, invalid(ReasonSize, "%s[%d] size %.40q must be %s", side, i, l[1], map[bool]string{true: "positive in a snapshot", false: "zero or positive"}[snapshot])
		}
		out[i] = Level{Price: p, Size: s}
	}
	return out, nil
}

// checkSnapshot refuses repeated prices on a side and a crossed book.
func checkSnapshot(bids, asks []Level) error {
	best := func(ls []Level, higher bool) (Decimal, bool) {
		if len(ls) == 0 {
			return Decimal{}, false
		}
		b := ls[0].Price
		for _, l := range ls[1:] {
			if c := l.Price.Cmp(b); (higher && c > 0) || (!higher && c < 0) {
				b = l.Price
			}
		}
		return b, true
	}
	for _, side := range []struct {
		name string
		ls   []Level
	}{{"bids", bids}, {"asks", asks}} {
		seen := make(map[Decimal]struct{}, len(side.ls))
		for _, l := range side.ls {
			if _, dup := seen[l.Price]; dup {
				return invalid(ReasonPrice, "%s repeat price %s", side.name, l.Price)
			}
			seen[l.Price] = struct{}{}
		}
	}
	bb, okB := best(bids, true)
	ba, okA := best(asks, false)
	if okB && okA && bb.Cmp(ba) >= 0 {
		return invalid(ReasonCrossed, "best bid %s is not below best ask %s", bb, ba)
	}
	return nil
}

// FormatTime formats t as RFC 3339 in UTC with up to nine fractional digits, trailing zeros dropped.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
