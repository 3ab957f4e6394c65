package schema

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// fixtures returns the contents of the golden inputs in testdata/events.
func fixtures(tb testing.TB) [][]byte {
	paths, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var quoted = regexp.MustCompile(`"([^"\\]*)"`)

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"43000.10", "2.000", "0.0015", "-1.5", "+1.5", "1e-3", "1.5E+3", ".5", "5.", "007",
		"", "-", ".", "abc", "1.2.3", "NaN", "Inf", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "0.000000000000000001", "0.0000000000000000001", "1.0000000000000000000000",
		"0e-30", "1e19", "1e9999", "123456789012345678.90"} {
		f.Add(s)
	}
	for _, b := range fixtures(f) {
		for _, m := range quoted.FindAllSubmatch(b, -1) {
			f.Add(string(m[1]))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		shop, serr := decimal.NewFromString(s)
		if err != nil {
			if !errors.Is(err, ErrNotDecimal) && !errors.Is(err, ErrOverflow) {
				t.Fatalf("ParseDecimal(%q): error %v is neither ErrNotDecimal nor ErrOverflow", s, err)
			}
			if d != (Decimal{}) {
				t.Fatalf("ParseDecimal(%q) = %#v with error %v", s, d, err)
			}
			if serr != nil {
				return
			}
			fits := representable(shop)
			switch {
			case isPlain(s) && fits:
				t.Fatalf("ParseDecimal(%q) = %v; shopspring reads %s, which fits", s, err, shop)
			case isPlain(s) && !errors.Is(err, ErrOverflow):
				t.Fatalf("ParseDecimal(%q) = %v; want ErrOverflow for a plain decimal out of range", s, err)
			case len(s) <= 64 && fits:
				t.Fatalf("ParseDecimal(%q) = %v; shopspring reads %s, which fits", s, err, shop)
			}
			return
		}
		if d.Exp > MaxExp || d != d.Canonical() {
			t.Fatalf("ParseDecimal(%q) = %#v is not canonical", s, d)
		}
		str := d.String()
		if strings.ContainsAny(str, "eE+") || strings.HasSuffix(str, ".") || strings.HasPrefix(str, ".") ||
			(strings.Contains(str, ".") && strings.HasSuffix(str, "0")) || (len(str) > 1 && str[0] == '0' && str[1] != '.') {
			t.Fatalf("ParseDecimal(%q).String() = %q is not canonical", s, str)
		}
		if back, err := ParseDecimal(str); err != nil || back != d {
			t.Fatalf("ParseDecimal(%q) = %#v, but ParseDecimal(%q) = %#v, %v", s, d, str, back, err)
		}
		if serr != nil {
			t.Fatalf("ParseDecimal(%q) = %v, but shopspring refuses it: %v", s, d, serr)
		}
		if !shop.Equal(decimal.New(d.Coef, -int32(d.Exp))) {
			t.Fatalf("ParseDecimal(%q) = %v; shopspring reads %s", s, d, shop)
		}
		if shop.String() != str {
			t.Fatalf("ParseDecimal(%q).String() = %q; shopspring prints %q", s, str, shop.String())
		}
	})
}

// isPlain reports whether s is [-+]?digits[.digits] with at least one digit (either side of the point).
func isPlain(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		return false
	}
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// representable reports whether d is coef × 10^-exp with coef an int64 and 0 <= exp <= MaxExp. It works on
// d's plain string form, in linear time.
func representable(d decimal.Decimal) bool {
	s := d.String() // no exponent
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if len(frac) > MaxExp {
		return false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	limit := "9223372036854775807"
	if neg {
		limit = "9223372036854775808"
	}
	return len(digits) < len(limit) || (len(digits) == len(limit) && digits <= limit)
}

func FuzzAppendDecimal(f *testing.F) {
	f.Add(int64(43000100), uint8(3))
	f.Add(int64(15), uint8(4))
	f.Add(int64(-9223372036854775808), uint8(18))
	f.Fuzz(func(t *testing.T, coef int64, exp uint8) {
		exp %= MaxExp + 1
		d := Decimal{coef, exp}
		s := d.String()
		if back, err := ParseDecimal(s); err != nil || back != d.Canonical() {
			t.Fatalf("%#v.String() = %q parses to %#v, %v; want %#v", d, s, back, err, d.Canonical())
		}
		if d.Cmp(d.Canonical()) != 0 {
			t.Fatalf("%#v.Cmp(its canonical form) != 0", d)
		}
		if !decimal.New(coef, -int32(exp)).Equal(decimal.RequireFromString(s)) {
			t.Fatalf("%#v.String() = %q has the wrong value", d, s)
		}
	})
}

func FuzzCmp(f *testing.F) {
	f.Add(int64(430001), uint8(1), int64(43000100), uint8(3))
	f.Add(int64(9223372036854775807), uint8(0), int64(1), uint8(18))
	f.Fuzz(func(t *testing.T, c1 int64, e1 uint8, c2 int64, e2 uint8) {
		a, b := Decimal{c1, e1 % (MaxExp + 1)}, Decimal{c2, e2 % (MaxExp + 1)}
		want := decimal.New(a.Coef, -int32(a.Exp)).Cmp(decimal.New(b.Coef, -int32(b.Exp)))
		if got := a.Cmp(b); got != want {
			t.Fatalf("%#v.Cmp(%#v) = %d; want %d", a, b, got, want)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	for _, s := range duplicateFieldRecords {
		f.Add([]byte(s))
	}
	for _, tc := range laxRecords {
		f.Add([]byte(tc.rec))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			var ee *EventError
			if !errors.As(err, &ee) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v (%T) is not an *EventError", err, err)
			}
			return
		}
		checkEvent(t, ev)
		// The canonical wire form of an accepted event decodes to the same event.
		v := eventView{Type: ev.Type.String(), Symbol: ev.Symbol, Seq: ev.Seq, Time: ev.Time,
			Bids: viewLevels(ev.Bids), Asks: viewLevels(ev.Asks)}
		if ev.Type == EventTrade {
			v.Price, v.Size, v.Side, v.TradeID = ev.Price.String(), ev.Size.String(), ev.Side.String(), ev.TradeID
		}
		wire, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeEvent(wire)
		if err != nil {
			t.Fatalf("canonical form %s of an accepted event is rejected: %v", wire, err)
		}
		if !reflect.DeepEqual(again, ev) {
			t.Fatalf("canonical form %s decodes to %+v; want %+v", wire, again, ev)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "BTC-USD", `a"b\c`, "\x00\x1f\x7f", "\xff\xfe", "\xed\xa0\x80", "é€😀", "\u2028"} {
		f.Add(s)
	}
	for _, b := range fixtures(f) {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkStringRoundTrip(t, s)
	})
}
