package schema

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want Decimal
		str  string // canonical String(); "" means want.String() is not checked
		err  error
	}{
		// Canonical and non-canonical plain forms (fast path).
		{in: "43000.1", want: Decimal{430001, 1}, str: "43000.1"},
		{in: "43000.10", want: Decimal{430001, 1}, str: "43000.1"},
		{in: "43000.100000", want: Decimal{430001, 1}, str: "43000.1"},
		{in: "2", want: Decimal{2, 0}, str: "2"},
		{in: "2.000", want: Decimal{2, 0}, str: "2"},
		{in: "2.", want: Decimal{2, 0}, str: "2"},
		{in: "100", want: Decimal{100, 0}, str: "100"},
		{in: "100.00", want: Decimal{100, 0}, str: "100"},
		{in: "0.0015", want: Decimal{15, 4}, str: "0.0015"},
		{in: ".0015", want: Decimal{15, 4}, str: "0.0015"},
		{in: ".5", want: Decimal{5, 1}, str: "0.5"},
		{in: "-.5", want: Decimal{-5, 1}, str: "-0.5"},
		{in: "-1.5", want: Decimal{-15, 1}, str: "-1.5"},
		{in: "+1.5", want: Decimal{15, 1}, str: "1.5"},
		{in: "-0", want: Decimal{}, str: "0"},
		{in: "0", want: Decimal{}, str: "0"},
		{in: "0.000", want: Decimal{}, str: "0"},
		{in: "000", want: Decimal{}, str: "0"},
		{in: "007", want: Decimal{7, 0}, str: "7"},
		{in: "00043000.10", want: Decimal{430001, 1}, str: "43000.1"},
		{in: "1.000000000000000001", want: Decimal{1000000000000000001, 18}, str: "1.000000000000000001"},
		{in: "0.000000000000000001", want: Decimal{1, 18}, str: "0.000000000000000001"},
		{in: "9223372036854775807", want: Decimal{math.MaxInt64, 0}, str: "9223372036854775807"},
		{in: "-9223372036854775808", want: Decimal{math.MinInt64, 0}, str: "-9223372036854775808"},
		{in: "922337203.6854775807", want: Decimal{math.MaxInt64, 10}, str: "922337203.6854775807"},
		{in: "123456789012345678.9", want: Decimal{1234567890123456789, 1}},
		// Zeros and trailing zeros beyond any limit are harmless.
		{in: "0." + strings.Repeat("0", 30), want: Decimal{}, str: "0"},
		{in: "1." + strings.Repeat("0", 100), want: Decimal{1, 0}, str: "1"},
		{in: strings.Repeat("0", 100) + "1.5", want: Decimal{15, 1}, str: "1.5"},
		{in: "1000000000000000000", want: Decimal{1e18, 0}},
		// Exponents go through shopspring/decimal (slow path).
		{in: "1e-3", want: Decimal{1, 3}, str: "0.001"},
		{in: "1.5E-3", want: Decimal{15, 4}, str: "0.0015"},
		{in: "1e+2", want: Decimal{100, 0}, str: "100"},
		{in: "4.30001e4", want: Decimal{430001, 1}, str: "43000.1"},
		{in: "-2.5e1", want: Decimal{-25, 0}, str: "-25"},
		{in: "0e-30", want: Decimal{}, str: "0"},
		{in: "0e9999", want: Decimal{}, str: "0"},
		{in: "100000000000000000000000000000000e-30", want: Decimal{100, 0}, str: "100"},
		{in: "1e-18", want: Decimal{1, 18}},
		// Not decimals.
		{in: "", err: ErrNotDecimal},
		{in: "-", err: ErrNotDecimal},
		{in: "+", err: ErrNotDecimal},
		{in: ".", err: ErrNotDecimal},
		{in: "-.", err: ErrNotDecimal},
		{in: "abc", err: ErrNotDecimal},
		{in: "1.2.3", err: ErrNotDecimal},
		{in: "1,5", err: ErrNotDecimal},
		{in: "1_000", err: ErrNotDecimal},
		{in: " 1", err: ErrNotDecimal},
		{in: "1 ", err: ErrNotDecimal},
		{in: "--1", err: ErrNotDecimal},
		{in: "0x10", err: ErrNotDecimal},
		{in: "NaN", err: ErrNotDecimal},
		{in: "nan", err: ErrNotDecimal},
		{in: "Inf", err: ErrNotDecimal},
		{in: "-Infinity", err: ErrNotDecimal},
		{in: "1e", err: ErrNotDecimal},
		{in: "e5", err: ErrNotDecimal},
		{in: "1e2147483647", err: ErrNotDecimal},                         // shopspring's exponent limit
		{in: "١٢", err: ErrNotDecimal},                                   // non-ASCII digits
		{in: "1" + strings.Repeat("0", 70) + "e-70", err: ErrNotDecimal}, // exponent forms over 64 bytes
		// Out of range.
		{in: "9223372036854775808", err: ErrOverflow},
		{in: "-9223372036854775809", err: ErrOverflow},
		{in: "99999999999999999999", err: ErrOverflow},
		{in: "1" + strings.Repeat("0", 100), err: ErrOverflow},
		{in: strings.Repeat("9", 200), err: ErrOverflow},
		{in: "0.0000000000000000001", err: ErrOverflow}, // 19 fractional digits
		{in: "1.1234567890123456789", err: ErrOverflow},
		{in: "0." + strings.Repeat("0", 100) + "1", err: ErrOverflow},
		{in: "1e19", err: ErrOverflow},
		{in: "1e9999", err: ErrOverflow},
		{in: "1e-19", err: ErrOverflow},
		{in: "1e30", err: ErrOverflow},
	}
	for _, tt := range tests {
		got, err := ParseDecimal(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseDecimal(%.60q) = %v, %v; want error %v", tt.in, got, err, tt.err)
			}
			if got != (Decimal{}) {
				t.Errorf("ParseDecimal(%.60q) returned %v with an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDecimal(%.60q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			continue
		}
		if got != got.Canonical() {
			t.Errorf("ParseDecimal(%.60q) = %#v is not canonical", tt.in, got)
		}
		if tt.str != "" && got.String() != tt.str {
			t.Errorf("ParseDecimal(%.60q).String() = %q; want %q", tt.in, got.String(), tt.str)
		}
	}
}

func TestParseDecimalFastPathDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"43000.10", "0.0015", "-1.5", "1." + strings.Repeat("0", 40), "9223372036854775807"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseDecimal(s) }); n != 0 {
			t.Errorf("ParseDecimal(%q) allocates %v times", s, n)
		}
	}
}

func TestAppendDecimal(t *testing.T) {
	tests := []struct {
		coef int64
		exp  uint8
		want string
	}{
		{0, 0, "0"},
		{0, 5, "0"},
		{2, 0, "2"},
		{2000, 3, "2"},
		{20, 0, "20"},
		{430001, 1, "43000.1"},
		{43000100, 3, "43000.1"},
		{4300010000, 5, "43000.1"},
		{15, 4, "0.0015"},
		{150, 5, "0.0015"},
		{5, 1, "0.5"},
		{1, 18, "0.000000000000000001"},
		{-15, 1, "-1.5"},
		{-15, 4, "-0.0015"},
		{-1500, 3, "-1.5"},
		{-7, 0, "-7"},
		{123456, 6, "0.123456"},
		{math.MaxInt64, 0, "9223372036854775807"},
		{math.MaxInt64, 18, "9.223372036854775807"},
		{math.MaxInt64, 19, "0.9223372036854775807"},
		{math.MinInt64, 0, "-9223372036854775808"},
		{math.MinInt64, 3, "-9223372036854775.808"},
		{math.MinInt64, 19, "-0.9223372036854775808"},
		{math.MinInt64, 20, "-0.09223372036854775808"},
		{math.MaxInt64, 20, "0.09223372036854775807"},
		{math.MinInt64, 21, "-0.009223372036854775808"},
		{7, 21, "0.000000000000000000007"},
		{-7, 255, "-0." + strings.Repeat("0", 254) + "7"},
		{100, 20, "0.000000000000000001"},
	}
	for _, tt := range tests {
		got := string(AppendDecimal([]byte("x="), tt.coef, tt.exp))
		if got != "x="+tt.want {
			t.Errorf("AppendDecimal(%d, %d) = %q; want %q", tt.coef, tt.exp, got, "x="+tt.want)
		}
		if tt.exp <= MaxExp {
			d := Decimal{tt.coef, tt.exp}
			if s := d.String(); s != tt.want {
				t.Errorf("%#v.String() = %q; want %q", d, s, tt.want)
			}
			if back, err := ParseDecimal(tt.want); err != nil || back != d.Canonical() {
				t.Errorf("ParseDecimal(%q) = %#v, %v; want %#v", tt.want, back, err, d.Canonical())
			}
		}
		if strings.ContainsAny(tt.want, "eE") || strings.HasSuffix(tt.want, ".") ||
			(strings.Contains(tt.want, ".") && strings.HasSuffix(tt.want, "0")) {
			t.Errorf("AppendDecimal(%d, %d) = %q is not canonical", tt.coef, tt.exp, got)
		}
	}
}

func TestCanonicalAndSign(t *testing.T) {
	tests := []struct {
		in, want Decimal
		sign     int
	}{
		{Decimal{43000100, 3}, Decimal{430001, 1}, 1},
		{Decimal{0, 7}, Decimal{}, 0},
		{Decimal{-1500, 3}, Decimal{-15, 1}, -1},
		{Decimal{100, 0}, Decimal{100, 0}, 1},
		{Decimal{math.MinInt64, 0}, Decimal{math.MinInt64, 0}, -1},
	}
	for _, tt := range tests {
		if got := tt.in.Canonical(); got != tt.want {
			t.Errorf("%#v.Canonical() = %#v; want %#v", tt.in, got, tt.want)
		}
		if got := tt.in.Sign(); got != tt.sign {
			t.Errorf("%#v.Sign() = %d; want %d", tt.in, got, tt.sign)
		}
	}
}

func TestDecimalCmp(t *testing.T) {
	d := func(s string) Decimal {
		t.Helper()
		v, err := ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		a, b Decimal
		want int
	}{
		{d("1"), d("1"), 0},
		{d("1.0"), d("1"), 0},
		{Decimal{10, 1}, Decimal{1, 0}, 0}, // non-canonical equal values
		{d("43000.1"), d("43000.2"), -1},
		{d("43000.2"), d("43000.1"), 1},
		{d("0.0015"), d("0.002"), -1},
		{d("-1.5"), d("1.5"), -1},
		{d("-1.5"), d("-1.4"), -1},
		{d("0"), d("-0.000000000000000001"), 1},
		{d("0.000000000000000001"), d("0"), 1},
		// Rescaling overflows int64: Cmp falls back to exact big arithmetic.
		{Decimal{math.MaxInt64, 0}, Decimal{1, 18}, 1},
		{Decimal{1, 18}, Decimal{math.MaxInt64, 0}, -1},
		{Decimal{math.MinInt64, 0}, Decimal{-1, 18}, -1},
		{Decimal{math.MaxInt64, 0}, Decimal{math.MaxInt64, 1}, 1},
		{Decimal{math.MaxInt64, 1}, Decimal{math.MaxInt64, 0}, -1},
		{Decimal{math.MaxInt64, 18}, Decimal{9, 0}, 1},
		{Decimal{math.MaxInt64, 18}, Decimal{10, 0}, -1},
		{Decimal{math.MinInt64, 18}, Decimal{math.MinInt64, 18}, 0},
	}
	for _, tt := range tests {
		if got := tt.a.Cmp(tt.b); got != tt.want {
			t.Errorf("%v.Cmp(%v) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Cmp(tt.a); got != -tt.want {
			t.Errorf("%v.Cmp(%v) = %d; want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestRescale(t *testing.T) {
	tests := []struct {
		d    Decimal
		exp  uint8
		want int64
		ok   bool
	}{
		{Decimal{430001, 1}, 1, 430001, true},
		{Decimal{430001, 1}, 3, 43000100, true},
		{Decimal{430001, 1}, 0, 0, false}, // would lose the .1
		{Decimal{43000100, 3}, 1, 430001, true},
		{Decimal{43000100, 3}, 0, 0, false},
		{Decimal{2000, 3}, 0, 2, true},
		{Decimal{-15, 1}, 4, -15000, true},
		{Decimal{-15, 1}, 0, 0, false},
		{Decimal{}, 18, 0, true},
		{Decimal{1, 0}, 18, 1e18, true},
		{Decimal{10, 0}, 18, 0, false}, // 10^19 overflows int64
		{Decimal{-10, 0}, 18, 0, false},
		{Decimal{1, 0}, 19, 0, false}, // beyond MaxExp
		{Decimal{math.MaxInt64, 0}, 1, 0, false},
		{Decimal{math.MinInt64, 0}, 1, 0, false},
		{Decimal{math.MaxInt64 / 10, 0}, 1, math.MaxInt64 / 10 * 10, true},
		{Decimal{math.MinInt64 / 10, 0}, 1, math.MinInt64 / 10 * 10, true},
		{Decimal{15, 4}, 4, 15, true},
		{Decimal{15, 4}, 8, 150000, true},
	}
	for _, tt := range tests {
		got, ok := tt.d.Rescale(tt.exp)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%#v.Rescale(%d) = %d, %v; want %d, %v", tt.d, tt.exp, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPow10(t *testing.T) {
	want := int64(1)
	for n := uint8(0); n <= MaxExp; n++ {
		if got := Pow10(n); got != want {
			t.Errorf("Pow10(%d) = %d; want %d", n, got, want)
		}
		want *= 10
	}
}
