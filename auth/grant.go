package auth

import (
	"errors"
	"slices"
	"time"
)

// Grant is what a verified credential allows.
type Grant struct {
	// Name identifies the holder; connection limits are counted per name.
	Name string
	// MaxConnections bounds the holder's open connections on one server. 0: no limit of its own.
	MaxConnections int
	// MaxSubscriptions bounds the subscriptions of one connection. 0: no limit of its own.
	MaxSubscriptions int
	// Symbols lists the symbols the holder may subscribe to, sorted. Empty: every symbol.
	Symbols []string
	// Expires is when the credential stops being valid. Zero: never.
	Expires time.Time
}

// Allows reports whether g may see symbol.
func (g *Grant) Allows(symbol string) bool {
	if len(g.Symbols) == 0 {
		return true
	}
	_, ok := slices.BinarySearch(g.Symbols, symbol)
	return ok
}

// Sentinel errors of Verify. Callers branch on them with errors.Is.
var (
	// ErrNoToken: the token is empty.
	ErrNoToken = errors.New("no token")
	// ErrInvalidToken: the token is not known, or its signature or claims do not verify.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpired: the token verified but has expired.
	ErrExpired = errors.New("token expired")
	// ErrKeyFile: a key file could not be read or parsed.
	ErrKeyFile = errors.New("bad key file")
)
