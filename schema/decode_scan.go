package schema

// The single-pass scanner of Decoder. It accepts exactly the records that json.Unmarshal into the old wire
// struct accepted: the JSON grammar of encoding/json (whitespace " \t\n\r", escapes, numbers, literals,
// nesting up to maxNestingDepth), and the types it could store: a string or null for the string fields, an
// unsigned integer that fits uint64 or null for seq, and for bids and asks null or an array of (null or an
// array whose first two elements are strings or null, the others any JSON). It refuses at the first fault:
// every fault, syntax or type, is a ReasonJSON rejection, so which one comes first does not matter.
//
// Each scan function takes the index of the first byte of its value (whitespace already skipped) and returns
// the index just past it, with ok false (and the index of the fault) when the record must be refused.

// strSafe marks the bytes that stand for themselves in a JSON string and need no unquoting.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hexVal is the value of a hexadecimal digit, or -1.
var hexVal = func() (t [256]int8) {
	for c := range t {
		t[c] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

func skipWS(data []byte, i int) int {
	if i < len(data) && data[i] > ' ' { // the usual case: no whitespace at all
		return i
	}
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanObject scans the record, data[0] being '{', into d.w.
func (d *Decoder) scanObject(data []byte) (int, bool) {
	i := skipWS(data, 1)
	if i < len(data) && data[i] == '}' {
		return i + 1, i+1 == len(data)
	}
	// named holds 1<<f for each field of the schema named so far: a second name of the same field, in
	// any letter case, is refused, so that a record cannot mean two things.
	var named uint16
	for {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		end, esc, ok := scanString(data, i)
		if !ok {
			return end, false
		}
		f := d.fieldOf(data[i+1:end-1], esc)
		if f != fUnknown {
			if named&(1<<f) != 0 {
				return i, false
			}
			named |= 1 << f
		}
		if i = skipWS(data, end); i >= len(data) || data[i] != ':' {
			return i, false
		}
		if i = skipWS(data, i+1); i >= len(data) {
			return i, false
		}
		switch f {
		case fSeq:
			i, ok = d.scanSeq(data, i)
		case fBids:
			i, ok = d.scanSide(data, i, &d.w.bids)
		case fAsks:
			i, ok = d.scanSide(data, i, &d.w.asks)
		case fUnknown:
			i, ok = d.skipValue(data, i, 1)
		default:
			i, ok = d.scanStringField(data, i, f)
		}
		if !ok {
			return i, false
		}
		if i = skipWS(data, i); i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			// Only whitespace may follow, and bytes.TrimSpace removed it.
			return i + 1, i+1 == len(data)
		default:
			return i, false
		}
	}
}

// scanString scans the string that starts at data[i] == '"'. esc reports escapes or non-ASCII bytes.
func scanString(data []byte, i int) (end int, esc, ok bool) {
	for i++; i < len(data); {
		c := data[i]
		if strSafe[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(data) {
				return i, esc, false
			}
			switch data[i+1] {
			case 'b', 'f', 'n', 'r', 't', '\\', '/', '"':
				i += 2
			case 'u':
				if len(data)-i < 6 || hexVal[data[i+2]]|hexVal[data[i+3]]|hexVal[data[i+4]]|hexVal[data[i+5]] < 0 {
					return i, esc, false
				}
				i += 6
			default:
				return i, esc, false
			}
		case c < 0x20:
			return i, esc, false
		default: // non-ASCII: kept if valid UTF-8, else replaced
			esc = true
			i++
		}
	}
	return i, esc, false
}

// isNull reports whether the literal null starts at data[i].
func isNull(data []byte, i int) bool {
	return len(data)-i >= 4 && data[i] == 'n' && data[i+1] == 'u' && data[i+2] == 'l' && data[i+3] == 'l'
}

// scanStringField scans the value of string field f: a string, or null, which unsets it.
func (d *Decoder) scanStringField(data []byte, i, f int) (int, bool) {
	switch {
	case data[i] == '"':
		end, esc, ok := scanString(data, i)
		if !ok {
			return end, false
		}
		d.w.str[f] = strRef{off: int32(i + 1), end: int32(end - 1), esc: esc}
		d.w.has |= 1 << f
		return end, true
	case isNull(data, i):
		d.w.has &^= 1 << f
		return i + 4, true
	}
	return i, false // another type, or not JSON
}

// scanSeq scans the value of seq as encoding/json decodes a *uint64: null unsets it, and a number is
// strconv.ParseUint(text, 10, 64), which refuses a sign, a fraction, an exponent and overflow.
func (d *Decoder) scanSeq(data []byte, i int) (int, bool) {
	if isNull(data, i) {
		d.w.has &^= 1 << fSeq
		return i + 4, true
	}
	var v uint64
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
			dig := uint64(data[i] - '0')
			if v > (1<<64-1-dig)/10 {
				return i, false
			}
			v = v*10 + dig
		}
	default:
		return i, false
	}
	if i < len(data) {
		// A fraction or an exponent makes it no uint64; a digit after a leading 0 makes it no JSON.
		if c := data[i]; c == '.' || c == 'e' || c == 'E' || ('0' <= c && c <= '9') {
			return i, false
		}
	}
	d.w.seq = v
	d.w.has |= 1 << fSeq
	return i, true
}

// scanSide scans the value of bids or asks into s (see rawSide).
func (d *Decoder) scanSide(data []byte, i int, s *rawSide) (int, bool) {
	if isNull(data, i) {
		s.store, s.n = s.store[:0], 0
		return i + 4, true
	}
	if data[i] != '[' {
		return i, false
	}
	if i = skipWS(data, i+1); i < len(data) && data[i] == ']' {
		s.store, s.n = s.store[:0], 0
		return i + 1, true
	}
	n := 0
	for {
		if i >= len(data) {
			return i, false
		}
		if n == len(s.store) {
			if cap(s.store) == 0 {
				s.store = make([][2]strRef, 0, 8)
			}
			s.store = append(s.store, [2]strRef{})
		}
		switch {
		case data[i] == '[':
			var ok bool
			if i, ok = d.scanLevel(data, i, &s.store[n]); !ok {
				return i, false
			}
		case isNull(data, i): // leaves the element as it was
			i += 4
		default:
			return i, false
		}
		n++
		if i = skipWS(data, i); i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			s.n = n
			return i + 1, true
		default:
			return i, false
		}
	}
}

// scanLevel scans one level, data[i] == '[', into l as encoding/json decodes a [2]string, a null element
// leaving its string as it was; a level must have exactly two elements (price and size).
func (d *Decoder) scanLevel(data []byte, i int, l *[2]strRef) (int, bool) {
	i = skipWS(data, i+1)
	j := 0
	for {
		if i >= len(data) {
			return i, false
		}
		switch {
		case j >= 2:
			return i, false
		case data[i] == '"':
			end, esc, ok := scanString(data, i)
			if !ok {
				return end, false
			}
			l[j] = strRef{off: int32(i + 1), end: int32(end - 1), esc: esc}
			i = end
		case isNull(data, i):
			i += 4
		default:
			return i, false
		}
		j++
		if i = skipWS(data, i); i >= len(data) {
			return i, false
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case ']':
			return i + 1, j == 2
		default:
			return i, false
		}
	}
}

// skipValue scans any JSON value inside depth open arrays and objects.
func (d *Decoder) skipValue(data []byte, i, depth int) (int, bool) {
	stack := d.stack[:0]
	defer func() { d.stack = stack }()
	for {
		// A value starts at data[i].
		if i >= len(data) {
			return i, false
		}
		ok := true
		switch c := data[i]; c {
		case '{', '[':
			if depth+len(stack)+1 > maxNestingDepth {
				return i, false
			}
			stack = append(stack, c)
			if i = skipWS(data, i+1); i < len(data) && data[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, ok = scanKey(data, i); !ok {
					return i, false
				}
			}
			continue
		case '"':
			i, _, ok = scanString(data, i)
		case 't':
			i, ok = scanLiteral(data, i, "true")
		case 'f':
			i, ok = scanLiteral(data, i, "false")
		case 'n':
			i, ok = scanLiteral(data, i, "null")
		default:
			i, ok = scanNumber(data, i)
		}
		if !ok {
			return i, false
		}
		// After a value: close what it ends, until a comma asks for the next value.
		for {
			if len(stack) == 0 {
				return i, true
			}
			if i = skipWS(data, i); i >= len(data) {
				return i, false
			}
			top := stack[len(stack)-1]
			if data[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if data[i] != ',' {
				return i, false
			}
			i = skipWS(data, i+1)
			if top == '{' {
				if i, ok = scanKey(data, i); !ok {
					return i, false
				}
			}
			break
		}
	}
}

// scanKey scans `"key" :` and the whitespace after it.
func scanKey(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	i, _, ok := scanString(data, i)
	if !ok {
		return i, false
	}
	if i = skipWS(data, i); i >= len(data) || data[i] != ':' {
		return i, false
	}
	return skipWS(data, i+1), true
}

func scanLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
			n++
		}
		return n
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case digits() == 0:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}
