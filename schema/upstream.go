package schema

// strictDecimal reports whether b is a decimal as producers must write it in a record: one or more ASCII
// digits, optionally followed by a point and one or more digits. No sign, no exponent, no point without a
// digit on each side, no spaces. ParseDecimal is more lenient (it also reads the forms other tools write);
// the event decoder applies this check first, so a record is held to the upstream contract.
func strictDecimal(b []byte) bool {
	i := 0
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	if i == 0 {
		return false
	}
	if i == len(b) {
		return true
	}
	if b[i] != '.' || i+1 == len(b) {
		return false
	}
	for i++; i < len(b); i++ {
		if b[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// notStrict is the message of a decimal that strictDecimal refuses.
const notStrict = "is not digits with an optional fraction (like 43000.25)"
