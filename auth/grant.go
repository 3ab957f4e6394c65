package auth

import (
	"errors"
	"slices"
	"time"
)

// Grant is what a verified credential allows. The feed applies it at its door: the connection limits at the
// handshake, the symbols on every route that yields data, the expiry on open connections.
type Grant struct {
	// Name identifies the holder; connection limits are counted per name.
	Name string
	// MaxConnections bounds the holder's open connections on one server. 0: no limit of its own.
	MaxConnections int
	// MaxSubscriptions bounds the subscriptions of one connection. 0: no limit of its own.
	MaxSubscriptions int
	// Symbols lists the symbols the holder may subscribe to, sorted. Empty: every symbol.
	Symbols []string
	// Expires is when the credential stops being valid; a connection open then is closed with 1008 "token
	// expired". Zero: never.
	Expires time.Time
}

// Allows reports whether g may see symbol. A nil *Grant (authentication off) allows every symbol.
func (g *Grant) Allows(symbol string) bool {
	if g == nil || len(g.Symbols) == 0 {
		return true
	}
	_, ok := slices.BinarySearch(g.Symbols, symbol)
	return ok
}

// Denied returns the symbols of syms that g may not see, nil when it may see them all. Every route of the
// feed that yields data (subscribe on /ws, /replay, /v1/book/{symbol}) decides through it.
func (g *Grant) Denied(syms ...string) []string {
	var denied []string
	for _, sym := range syms {
		if !g.Allows(sym) {
			denied = append(denied, sym)
		}
	}
	return denied
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
