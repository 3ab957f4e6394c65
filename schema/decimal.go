package schema

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/shopspring/decimal"
)

// MaxExp is the largest number of fractional digits a Decimal holds.
const MaxExp = 18

// Decimal is a fixed-point decimal number: Coef × 10^-Exp. It is a plain value, safe to compare with == once
// canonical (see Canonical), cheap to copy, and never allocates. Prices and sizes travel as Decimal from the
// Kafka edge into the book, which keeps them as integers in a per-symbol scale.
type Decimal struct {
	Coef int64 // coefficient, signed
	Exp  uint8 // digits after the decimal point, 0..MaxExp
}

// Errors returned by ParseDecimal. Callers branch on them with errors.Is.
var (
	ErrNotDecimal = errors.New("not a decimal string")
	ErrOverflow   = errors.New("decimal out of range")
)

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// maxMul[k] and minMul[k] bound the coefficients that can be multiplied by pow10[k] within int64 (a
// table, so that Rescale does not divide).
var maxMul, minMul = func() (hi, lo [len(pow10)]int64) {
	for k, p := range pow10 {
		hi[k], lo[k] = math.MaxInt64/p, math.MinInt64/p
	}
	return hi, lo
}()

// Pow10 returns 10^n for n in 0..18.
func Pow10(n uint8) int64 { return pow10[n] }

// ParseDecimal parses a decimal string such as "43000.10", "-1.5" or "0.0015". Plain digits with an optional
// sign and fractional part take a fast path with no allocation; other forms that shopspring/decimal accepts
// (exponents such as "1.5e-3") are parsed by it and accepted when they fit. The result is canonical.
func ParseDecimal(s string) (Decimal, error) {
	d, ok, err := parseFast(s)
	if err != nil {
		return Decimal{}, err
	}
	if ok {
		return d.Canonical(), nil
	}
	return parseSlow(s)
}

// parseFast handles [-+]?digits[.digits] completely, whatever its length, and never allocates: it returns
// the value, or ErrOverflow when the value does not fit (a coefficient over int64, or a non-zero digit beyond
// MaxExp fractional digits). Leading zeros and trailing fractional zeros cost nothing. ok is false for forms
// it does not know (left to parseSlow).
func parseFast(s string) (d Decimal, ok bool, err error) {
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		i = 1
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++ // -9223372036854775808 fits
	}
	var coef uint64
	// zeros counts the zeros seen since the last non-zero digit: they are applied to coef only when another
	// non-zero digit follows (or, at the end, when they are in the integer part), so trailing fractional zeros
	// never overflow.
	digits, frac, zeros, seenPoint, overflow := 0, 0, 0, false, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if seenPoint {
				frac++
			}
			if c == '0' {
				if coef != 0 {
					zeros++
				}
				continue
			}
			if overflow {
				continue
			}
			if seenPoint && frac > MaxExp {
				overflow = true
				continue
			}
			for ; zeros > 0 && !overflow; zeros-- {
				coef, overflow = mulAdd10(coef, 0, limit)
			}
			if !overflow {
				coef, overflow = mulAdd10(coef, uint64(c-'0'), limit)
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			return Decimal{}, false, nil
		}
	}
	if digits == 0 {
		return Decimal{}, false, nil
	}
	if overflow {
		return Decimal{}, false, fmt.Errorf("%w: %.40q does not fit in %d digits with at most %d after the point", ErrOverflow, s, 19, MaxExp)
	}
	if coef == 0 {
		return Decimal{}, true, nil
	}
	// Pending zeros are the last digits of s: those after the point are dropped, the others multiply.
	trailing := min(zeros, frac)
	frac -= trailing
	for zeros -= trailing; zeros > 0; zeros-- {
		if coef, overflow = mulAdd10(coef, 0, limit); overflow {
			return Decimal{}, false, fmt.Errorf("%w: %.40q does not fit in int64", ErrOverflow, s)
		}
	}
	v := int64(coef) // coef == 1<<63 only when neg: -v wraps to MinInt64, as wanted
	if neg {
		v = -v
	}
	return Decimal{Coef: v, Exp: uint8(frac)}, true, nil
}

// mulAdd10 returns c*10+d, and whether that exceeds limit.
func mulAdd10(c, d, limit uint64) (uint64, bool) {
	if c > (limit-d)/10 {
		return 0, true
	}
	return c*10 + d, false
}

func parseSlow(s string) (Decimal, error) {
	if len(s) > 64 {
		return Decimal{}, fmt.Errorf("%w: %.20q… is %d bytes long", ErrNotDecimal, s, len(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Decimal{}, fmt.Errorf("%w: %q", ErrNotDecimal, s)
	}
	exp := d.Exponent()
	coef := d.Coefficient()
	if coef.Sign() == 0 {
		return Decimal{}, nil // "0e-30" is zero, whatever its exponent
	}
	// Drop trailing zeros so that "1.000000000000000000000" still fits.
	ten := decimal.New(10, 0).BigInt()
	for exp < 0 && coef.Sign() != 0 {
		q, r := new(big.Int).QuoRem(coef, ten, new(big.Int))
		if r.Sign() != 0 {
			break
		}
		coef, exp = q, exp+1
	}
	if exp > 18 {
		// |coef| >= 1, so the value is at least 10^19: do not build a number of up to 10000 digits to learn that.
		return Decimal{}, fmt.Errorf("%w: %.40q", ErrOverflow, s)
	}
	for exp > 0 {
		coef = new(big.Int).Mul(coef, ten)
		exp--
	}
	if -exp > MaxExp || !coef.IsInt64() {
		return Decimal{}, fmt.Errorf("%w: %q", ErrOverflow, s)
	}
	return Decimal{Coef: coef.Int64(), Exp: uint8(-exp)}.Canonical(), nil
}

// Canonical returns d with trailing fractional zeros removed: Decimal{43000100, 3} becomes {430001, 1}.
func (d Decimal) Canonical() Decimal {
	if d.Coef == 0 {
		return Decimal{}
	}
	for d.Exp > 0 && d.Coef%10 == 0 {
		d.Coef /= 10
		d.Exp--
	}
	return d
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.Coef < 0:
		return -1
	case d.Coef > 0:
		return 1
	}
	return 0
}

// Rescale returns d's coefficient expressed with exp fractional digits. ok is false when exp is smaller than
// d.Exp and digits would be lost, or when the result overflows int64.
func (d Decimal) Rescale(exp uint8) (coef int64, ok bool) {
	if exp == d.Exp {
		return d.Coef, true
	}
	if exp < d.Exp {
		p := pow10[d.Exp-exp]
		if d.Coef%p != 0 {
			return 0, false
		}
		return d.Coef / p, true
	}
	if exp > MaxExp {
		return 0, false
	}
	k := exp - d.Exp
	if d.Coef > maxMul[k] || d.Coef < minMul[k] {
		return 0, false
	}
	return d.Coef * pow10[k], true
}

// Cmp compares two decimals: -1 if d < e, 0 if equal, +1 if d > e. It is exact for all values.
func (d Decimal) Cmp(e Decimal) int {
	exp := max(d.Exp, e.Exp)
	a, okA := d.Rescale(exp)
	b, okB := e.Rescale(exp)
	if okA && okB {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	return decimal.New(d.Coef, -int32(d.Exp)).Cmp(decimal.New(e.Coef, -int32(e.Exp)))
}

// String returns the canonical decimal string: no exponent, no trailing fractional zeros, no trailing point.
func (d Decimal) String() string { return string(AppendDecimal(nil, d.Coef, d.Exp)) }

// AppendDecimal appends coef × 10^-exp in canonical form to dst: "43000.1", "2", "0.0015", "-1.5".
// The coefficient need not be canonical; trailing zeros are dropped here.
func AppendDecimal(dst []byte, coef int64, exp uint8) []byte {
	if coef == 0 {
		return append(dst, '0')
	}
	for exp > 0 && coef%10 == 0 {
		coef /= 10
		exp--
	}
	if exp > 20 {
		return appendDecimalWide(dst, coef, exp)
	}
	neg := coef < 0
	u := uint64(coef)
	if neg {
		u = uint64(-coef) // MinInt64 wraps to its own magnitude as uint64
	}
	// Digits from the last, into a buffer written backwards: the exp fractional digits (with their
	// leading zeros), the point, the integer digits (at least one), the sign.
	var buf [24]byte // 20 digits of a uint64, or up to 20 fractional digits and "0.", and a sign
	i := len(buf)
	e := int(exp)
	for range e {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if e > 0 {
		i--
		buf[i] = '.'
	}
	if u == 0 {
		i--
		buf[i] = '0'
	}
	for u > 0 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return append(dst, buf[i:]...)
}

// appendDecimalWide is AppendDecimal for an exp beyond the digits of any int64: "0." and zeros first.
func appendDecimalWide(dst []byte, coef int64, exp uint8) []byte {
	var u uint64
	if coef < 0 {
		dst = append(dst, '-')
		u = uint64(-coef)
	} else {
		u = uint64(coef)
	}
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], u, 10)
	dst = append(dst, '0', '.')
	for i := len(s); i < int(exp); i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
