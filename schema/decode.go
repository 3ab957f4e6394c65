package schema

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MaxInternedSymbols bounds the symbol cache of a Decoder. Past it, new symbols are still decoded, but each
// record of a symbol not cached allocates its string.
const MaxInternedSymbols = 100_000

// maxNestingDepth is encoding/json's limit on nested arrays and objects; deeper records are refused as it
// refuses them.
const maxNestingDepth = 10000

// A Decoder decodes Kafka record values into Events, as DecodeEvent does, without the garbage: it scans the
// JSON in one pass, keeps its scratch buffers from one record to the next, interns symbols (up to
// MaxInternedSymbols of them) so that a known symbol costs no allocation, and reuses the capacity of the
// Event's level slices.
//
// The zero Decoder is ready to use. A Decoder is not safe for concurrent use: keep one per reader goroutine.
type Decoder struct {
	noCache bool              // DecodeEvent's one-shot decoders do not build a cache
	symbols map[string]string // interned symbols
	w       wireState         // the fields of the record being decoded
	scratch []byte            // one unquoted string at a time
	fold    []byte            // a case-folded key
	stack   []byte            // the open arrays and objects of a skipped value
	seen    map[Decimal]struct{}
	time    string // the canonical time of the last record whose time was valid
}

// Decode decodes and validates one record value into *ev, with exactly the acceptance, the results and the
// rejection reasons of DecodeEvent. It overwrites every field of *ev. The backing arrays of ev.Bids and
// ev.Asks are reused, so the caller must not keep the levels of an earlier event decoded into the same Event;
// a side without levels is left with length 0 (nil only if it was nil). On error *ev is zero apart from that
// capacity, and the error is an *EventError.
func (d *Decoder) Decode(data []byte, ev *Event) error {
	bids, asks, prevTime := ev.Bids[:0], ev.Asks[:0], ev.Time
	*ev = Event{Bids: bids, Asks: asks}
	err := d.decode(data, ev, prevTime)
	if err != nil {
		*ev = Event{Bids: ev.Bids[:0], Asks: ev.Asks[:0]}
	}
	d.trim()
	return err
}

// The fields of an event record, in the order of wireState.str; fSeq, fBids and fAsks are not strings.
const (
	fType = iota
	fSymbol
	fTime
	fPrice
	fSize
	fSide
	fTradeID
	nStrFields
	fSeq = iota - 1
	fBids
	fAsks
	fUnknown
)

// foldedNames are the field names of the record as encoding/json folds them to match keys: ASCII upper case.
var foldedNames = [...]string{fType: "TYPE", fSymbol: "SYMBOL", fTime: "TIME", fPrice: "PRICE", fSize: "SIZE",
	fSide: "SIDE", fTradeID: "TRADE_ID", fSeq: "SEQ", fBids: "BIDS", fAsks: "ASKS"}

// strRef is a JSON string of the record: data[off:end] is its text between the quotes. The zero strRef is "".
type strRef struct {
	off, end int32
	esc      bool // it has escapes or non-ASCII bytes, so it must be unquoted
}

// rawSide models the [][2]string that encoding/json decodes a level list into, quirks included: a list
// decoded over an earlier one of the same key reuses its elements, and a null element (or a null price or
// size) leaves what was there. store holds every element written since the slice was last replaced (by null,
// or by an empty list, for which encoding/json makes a new slice); n is the slice's length.
type rawSide struct {
	store [][2]strRef
	n     int
}

// wireState is what encoding/json would have stored into the old wire struct.
type wireState struct {
	has        uint16 // 1<<f for each string field f present and not null, 1<<fSeq for seq
	str        [nStrFields]strRef
	seq        uint64
	bids, asks rawSide
}

func (d *Decoder) decode(data []byte, ev *Event, prevTime string) error {
	if len(data) > MaxRecordBytes {
		return invalid(ReasonTooBig, "record is %d bytes, limit %d", len(data), MaxRecordBytes)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return invalid(ReasonJSON, "record is not a JSON object")
	}
	w := &d.w
	w.has, w.str = 0, [nStrFields]strRef{}
	w.bids.store, w.bids.n = w.bids.store[:0], 0
	w.asks.store, w.asks.n = w.asks.store[:0], 0
	if off, ok := d.scanObject(data); !ok {
		return invalid(ReasonJSON, "invalid JSON or a field of the wrong type at offset %d", off)
	}

	if w.has&(1<<fType) == 0 {
		return invalid(ReasonType, "missing type")
	}
	switch typ := d.str(data, fType); string(typ) {
	case "snapshot":
		ev.Type = EventSnapshot
	case "delta":
		ev.Type = EventDelta
	case "trade":
		ev.Type = EventTrade
	default:
		return invalid(ReasonType, "unknown type %.40q", string(typ))
	}
	sym := d.str(data, fSymbol) // "" when absent
	if w.has&(1<<fSymbol) == 0 || len(sym) == 0 {
		return invalid(ReasonSymbol, "missing symbol")
	}
	if len(sym) > MaxSymbolLength || !validSymbol(unsafeString(sym)) {
		return invalid(ReasonSymbol, "symbol %.70q is not 1..%d printable ASCII characters", string(sym), MaxSymbolLength)
	}
	if w.has&(1<<fSeq) == 0 || w.seq == 0 {
		return invalid(ReasonSeq, "missing or zero seq")
	}
	ev.Seq = w.seq
	if w.has&(1<<fTime) == 0 {
		return invalid(ReasonTime, "missing time")
	}
	var err error
	if ts := d.str(data, fTime); len(d.time) > 0 && string(ts) == d.time {
		// Records in a row often carry the same time. A canonical time is its own canonical form, so a
		// time written exactly as the last one's result needs no parsing.
		ev.Time = d.time
	} else {
		var t string
		if t, err = parseTime(ts, prevTime); err != nil {
			return err
		}
		ev.Time, d.time = t, t
	}

	switch ev.Type {
	case EventSnapshot, EventDelta:
		if w.bids.n > MaxLevels || w.asks.n > MaxLevels {
			return invalid(ReasonTooBig, "%d bids and %d asks, limit %d a side", w.bids.n, w.asks.n, MaxLevels)
		}
		snap := ev.Type == EventSnapshot
		if ev.Bids, err = d.levels(data, &w.bids, "bids", snap, ev.Bids); err != nil {
			return err
		}
		if ev.Asks, err = d.levels(data, &w.asks, "asks", snap, ev.Asks); err != nil {
			return err
		}
		if snap {
			if err := d.checkSnapshot(ev.Bids, ev.Asks); err != nil {
				return err
			}
		}
	case EventTrade:
		if ev.Price, err = d.positive(data, fPrice, ReasonPrice, "price"); err != nil {
			return err
		}
		if ev.Size, err = d.positive(data, fSize, ReasonSize, "size"); err != nil {
			return err
		}
		side := d.str(data, fSide)
		switch {
		case w.has&(1<<fSide) == 0:
			return invalid(ReasonSide, "missing side")
		case string(side) == "buy":
			ev.Side = Buy
		case string(side) == "sell":
			ev.Side = Sell
		default:
			return invalid(ReasonSide, "side %.20q is not buy or sell", string(side))
		}
		if w.has&(1<<fTradeID) != 0 {
			id := d.str(data, fTradeID)
			if len(id) > MaxTradeIDBytes {
				return invalid(ReasonTooBig, "trade_id is %d bytes, limit %d", len(id), MaxTradeIDBytes)
			}
			ev.TradeID = string(id)
		}
	}
	// Only now: a rejected record does not take a place in the cache.
	ev.Symbol = d.intern(d.str(data, fSymbol))
	return nil
}

// trim drops scratch buffers that a huge record grew, so that one such record does not pin their memory.
func (d *Decoder) trim() {
	const keep = 1 << 12
	if cap(d.w.bids.store) > keep {
		d.w.bids.store = nil
	}
	if cap(d.w.asks.store) > keep {
		d.w.asks.store = nil
	}
	if cap(d.scratch) > 1<<16 {
		d.scratch = nil
	}
	if cap(d.stack) > 1<<10 {
		d.stack = nil
	}
	if len(d.seen) > keep {
		d.seen = nil
	}
}

// str returns the value of string field f, unquoted; it is valid until the next call that unquotes.
func (d *Decoder) str(data []byte, f int) []byte { return d.unquote(data, d.w.str[f]) }

// unquote returns the value of r as encoding/json decodes it. The result is valid until the next call.
func (d *Decoder) unquote(data []byte, r strRef) []byte {
	b := data[r.off:r.end]
	if !r.esc {
		return b
	}
	d.scratch = appendUnquoted(d.scratch[:0], b)
	return d.scratch
}

// intern returns sym as a string, from the cache when it is there.
func (d *Decoder) intern(sym []byte) string {
	if s, ok := d.symbols[string(sym)]; ok {
		return s
	}
	s := string(sym)
	if d.noCache {
		return s
	}
	if d.symbols == nil {
		d.symbols = make(map[string]string)
	}
	if len(d.symbols) < MaxInternedSymbols {
		d.symbols[s] = s
	}
	return s
}

// parseDecimal is ParseDecimal(string(b)) without the conversion, and faster for the common form: up to 18
// digits with an optional point, which cannot overflow.
func parseDecimal(b []byte) (Decimal, error) {
	if len(b) > 0 && len(b) <= 19 {
		var coef int64
		point, ok := -1, true
		for i, c := range b {
			if c-'0' <= 9 {
				coef = coef*10 + int64(c-'0')
			} else if c == '.' && point < 0 {
				point = i
			} else {
				ok = false
				break
			}
		}
		digits, exp := len(b), 0
		if point >= 0 {
			digits, exp = len(b)-1, len(b)-1-point
		}
		if ok && digits > 0 && digits <= 18 {
			return Decimal{Coef: coef, Exp: uint8(exp)}.Canonical(), nil
		}
	}
	return ParseDecimal(unsafeString(b))
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (d *Decoder) positive(data []byte, f int, r Reason, name string) (Decimal, error) {
	if d.w.has&(1<<f) == 0 {
		return Decimal{}, invalid(r, "missing %s", name)
	}
	s := d.str(data, f)
	if !strictDecimal(s) {
		return Decimal{}, invalid(r, "%s %.40q %s", name, string(s), notStrict)
	}
	v, err := parseDecimal(s)
	if err != nil {
		return Decimal{}, invalid(r, "%s: %v", name, err)
	}
	if v.Sign() <= 0 {
		return Decimal{}, invalid(r, "%s %.40q is not positive", name, string(s))
	}
	return v, nil
}

// levels parses the levels of one side into out[:0].
func (d *Decoder) levels(data []byte, raw *rawSide, side string, snapshot bool, out []Level) ([]Level, error) {
	out = out[:0]
	if raw.n == 0 {
		return out, nil
	}
	if cap(out) < raw.n {
		out = make([]Level, 0, raw.n)
	}
	for i, l := range raw.store[:raw.n] {
		ps := d.unquote(data, l[0])
		if !strictDecimal(ps) {
			return out, invalid(ReasonPrice, "%s[%d] price %.40q %s", side, i, string(ps), notStrict)
		}
		p, err := parseDecimal(ps)
		if err != nil {
			return out, invalid(ReasonPrice, "%s[%d] price: %v", side, i, err)
		}
		if p.Sign() <= 0 {
			return out, invalid(ReasonPrice, "%s[%d] price %.40q is not positive", side, i, string(ps))
		}
		ss := d.unquote(data, l[1])
		if !strictDecimal(ss) {
			return out, invalid(ReasonSize, "%s[%d] size %.40q %s", side, i, string(ss), notStrict)
		}
		s, err := parseDecimal(ss)
		if err != nil {
			return out, invalid(ReasonSize, "%s[%d] size: %v", side, i, err)
		}
		if s.Sign() < 0 || (snapshot && s.Sign() == 0) {
			must := "zero or positive"
			if snapshot {
				must = "positive in a snapshot"
			}
			return out, invalid(ReasonSize, "%s[%d] size %.40q must be %s", side, i, string(ss), must)
		}
		out = append(out, Level{Price: p, Size: s})
	}
	return out, nil
}

// checkSnapshot refuses repeated prices on a side and a crossed book.
func (d *Decoder) checkSnapshot(bids, asks []Level) error {
	if err := d.checkRepeats(bids, "bids"); err != nil {
		return err
	}
	if err := d.checkRepeats(asks, "asks"); err != nil {
		return err
	}
	if len(bids) == 0 || len(asks) == 0 {
		return nil
	}
	bb, ba := bids[0].Price, asks[0].Price
	for _, l := range bids[1:] {
		if l.Price.Cmp(bb) > 0 {
			bb = l.Price
		}
	}
	for _, l := range asks[1:] {
		if l.Price.Cmp(ba) < 0 {
			ba = l.Price
		}
	}
	if bb.Cmp(ba) >= 0 {
		return invalid(ReasonCrossed, "best bid %s is not below best ask %s", bb, ba)
	}
	return nil
}

// checkRepeats reports the first level whose price an earlier level of the side has.
func (d *Decoder) checkRepeats(ls []Level, side string) error {
	if len(ls) <= 32 {
		for j := 1; j < len(ls); j++ {
			for k := range j {
				if ls[k].Price == ls[j].Price {
					return invalid(ReasonPrice, "%s repeat price %s", side, ls[j].Price)
				}
			}
		}
		return nil
	}
	if d.seen == nil {
		d.seen = make(map[Decimal]struct{}, len(ls))
	}
	clear(d.seen)
	for _, l := range ls {
		if _, dup := d.seen[l.Price]; dup {
			return invalid(ReasonPrice, "%s repeat price %s", side, l.Price)
		}
		d.seen[l.Price] = struct{}{}
	}
	return nil
}

// appendUnquoted appends the value of the JSON string text s (between its quotes, already checked by
// scanString) as encoding/json decodes it: escapes resolved, a \u escape of a lone surrogate and every byte
// of invalid UTF-8 replaced by U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			switch e := s[r+1]; e {
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// getu4 decodes the \uXXXX escape at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexVal[c]
		if v < 0 {
			return -1
		}
		r = r*16 + rune(v)
	}
	return r
}

// fieldOf returns the field a key names, matched as encoding/json matches it: exactly, else after folding
// case (with Unicode simple folding, so "ſide" is side and "asKs", with a Kelvin sign, is asks).
func (d *Decoder) fieldOf(key []byte, esc bool) int {
	if esc {
		d.scratch = appendUnquoted(d.scratch[:0], key)
		d.fold = appendFoldedName(d.fold[:0], d.scratch)
		for f, name := range foldedNames {
			if string(d.fold) == name {
				return f
			}
		}
		return fUnknown
	}
	// The names as the protocol writes them: one string switch, no folding.
	switch string(key) {
	case "type":
		return fType
	case "symbol":
		return fSymbol
	case "seq":
		return fSeq
	case "time":
		return fTime
	case "bids":
		return fBids
	case "asks":
		return fAsks
	case "price":
		return fPrice
	case "size":
		return fSize
	case "side":
		return fSide
	case "trade_id":
		return fTradeID
	}
	// Other plain ASCII: fold while comparing.
	switch len(key) {
	case 3:
		if foldEq(key, "SEQ") {
			return fSeq
		}
	case 4:
		for _, f := range [...]int{fType, fTime, fBids, fAsks, fSize, fSide} {
			if foldEq(key, foldedNames[f]) {
				return f
			}
		}
	case 5:
		if foldEq(key, "PRICE") {
			return fPrice
		}
	case 6:
		if foldEq(key, "SYMBOL") {
			return fSymbol
		}
	case 8:
		if foldEq(key, "TRADE_ID") {
			return fTradeID
		}
	}
	return fUnknown
}

// foldEq reports whether the ASCII key folds to name, which is upper case.
func foldEq(key []byte, name string) bool {
	for i := range len(name) {
		c := key[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// appendFoldedName is encoding/json's key folding: ASCII to upper case, other runes to the smallest rune of
// their simple fold orbit.
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
