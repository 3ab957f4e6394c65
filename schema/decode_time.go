package schema

import "time"

// parseTime returns the canonical form of the event time s (FormatTime of time.Parse(time.RFC3339Nano, s)),
// or the ReasonTime error DecodeEvent has always returned. The common form YYYY-MM-DDTHH:MM:SS[.F]Z, with 1
// to 9 fractional digits, takes a fast path that allocates only the result (nothing when it equals prev);
// every other form goes through time.Parse.
func parseTime(s []byte, prev string) (string, error) {
	var buf [len("2006-01-02T15:04:05.999999999Z")]byte
	if n, ok := canonicalTime(&buf, s); ok {
		if string(buf[:n]) == prev {
			return prev, nil
		}
		return string(buf[:n]), nil
	}
	str := string(s)
	t, err := time.Parse(time.RFC3339Nano, str)
	if err != nil {
		return "", invalid(ReasonTime, "time %.40q is not RFC 3339", str)
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		// "0000-01-01T00:00:00+01:00" is year -1 in UTC, which RFC 3339 cannot write.
		return "", invalid(ReasonTime, "time %.40q is outside years 0000..9999 in UTC", str)
	}
	return FormatTime(t), nil
}

// canonicalTime writes the canonical form of s into buf when s is YYYY-MM-DDTHH:MM:SS[.F]Z with 1 to 9
// fractional digits and fields in the ranges time.Parse accepts (it refuses a second of 60 as well). The
// canonical form is s with the trailing zeros of the fraction dropped, and its point when nothing is left.
// ok is false for anything else, valid or not, which the caller leaves to time.Parse.
func canonicalTime(buf *[30]byte, s []byte) (n int, ok bool) {
	const dt = len("2006-01-02T15:04:05")
	if len(s) < dt+1 || len(s) > len(buf) || s[len(s)-1] != 'Z' ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	n = copy(buf[:], s[:dt])
	if frac := s[dt : len(s)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return 0, false
		}
		if _, ok := digits(frac[1:]); !ok {
			return 0, false
		}
		k := len(frac)
		for k > 1 && frac[k-1] == '0' {
			k--
		}
		if k > 1 {
			n += copy(buf[n:], frac[:k])
		}
	}
	buf[n] = 'Z'
	return n + 1, true
}

// digits returns the value of s, which must be 1 to 9 decimal digits.
func digits(s []byte) (int, bool) {
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, len(s) > 0
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
