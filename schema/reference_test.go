package schema

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// This file holds the encoding/json implementation of DecodeEvent that Decoder replaced. Tests only: it is
// the oracle of FuzzDecoderMatchesReference and the baseline of BenchmarkDecodeReference.

type refWireEvent struct {
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

// decodeEventReference is DecodeEvent as it was before the hand-written scanner: encoding/json into
// refWireEvent, then time.Parse. It is kept verbatim as the reference the fuzz test compares Decoder with.
func decodeEventReference(data []byte) (Event, error) {
	if len(data) > MaxRecordBytes {
		return Event{}, invalid(ReasonTooBig, "record is %d bytes, limit %d", len(data), MaxRecordBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Event{}, invalid(ReasonJSON, "record is not a JSON object")
	}
	var w refWireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, invalid(ReasonJSON, "%v", err)
	}
	if name, dup := refDuplicateField(data); dup {
		return Event{}, invalid(ReasonJSON, "field %q named twice", name)
	}
	if err := refCheckLevelArity(data); err != nil {
		return Event{}, err
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
		if ev.Bids, err = refParseLevels(w.Bids, "bids", snap); err != nil {
			return Event{}, err
		}
		if ev.Asks, err = refParseLevels(w.Asks, "asks", snap); err != nil {
			return Event{}, err
		}
		if snap {
			if err := refCheckSnapshot(ev.Bids, ev.Asks); err != nil {
				return Event{}, err
			}
		}
	case EventTrade:
		if ev.Price, err = refParsePositive(w.Price, ReasonPrice, "price"); err != nil {
			return Event{}, err
		}
		if ev.Size, err = refParsePositive(w.Size, ReasonSize, "size"); err != nil {
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

func refParsePositive(s *string, r Reason, name string) (Decimal, error) {
	if s == nil {
		return Decimal{}, invalid(r, "missing %s", name)
	}
	if !refStrict.MatchString(*s) {
		return Decimal{}, invalid(r, "%s %.40q %s", name, *s, notStrict)
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

func refParseLevels(raw [][2]string, side string, snapshot bool) ([]Level, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]Level, len(raw))
	for i, l := range raw {
		if !refStrict.MatchString(l[0]) {
			return nil, invalid(ReasonPrice, "%s[%d] price %.40q %s", side, i, l[0], notStrict)
		}
		p, err := ParseDecimal(l[0])
		if err != nil {
			return nil, invalid(ReasonPrice, "%s[%d] price: %v", side, i, err)
		}
		if p.Sign() <= 0 {
			return nil, invalid(ReasonPrice, "%s[%d] price %.40q is not positive", side, i, l[0])
		}
		if !refStrict.MatchString(l[1]) {
			return nil, invalid(ReasonSize, "%s[%d] size %.40q %s", side, i, l[1], notStrict)
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
func refCheckSnapshot(bids, asks []Level) error {
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

// refFieldNames are the keys of refWireEvent.
var refFieldNames = []string{"type", "symbol", "seq", "time", "bids", "asks", "price", "size", "side", "trade_id"}

// refDuplicateField reports a field of refWireEvent that the object data (valid JSON) names twice, matched
// as encoding/json matches keys (exactly, else with Unicode simple case folding). It was added to the
// reference with the rule that such records are refused.
func refDuplicateField(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		for _, name := range refFieldNames {
			if key == name || strings.EqualFold(key, name) {
				if seen[name] {
					return name, true
				}
				seen[name] = true
				break
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// refStrict is the upstream form of a decimal, added to the reference with that rule.
var refStrict = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// refCheckLevelArity refuses, as bad_json, a level (an array element of bids or asks) that is not null and
// does not have exactly two elements. data is valid JSON without duplicate fields.
func refCheckLevelArity(data []byte) error {
	var w struct {
		Bids []json.RawMessage `json:"bids"`
		Asks []json.RawMessage `json:"asks"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return nil
	}
	for _, l := range append(w.Bids, w.Asks...) {
		if string(l) == "null" {
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(l, &elems); err != nil || len(elems) != 2 {
			return invalid(ReasonJSON, "level %s is not [price, size]", l)
		}
	}
	return nil
}
