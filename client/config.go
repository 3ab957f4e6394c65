package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Client. The zero value of every field means its documented default.
type Config struct {
	// HandshakeTimeout bounds one WebSocket handshake, and each write of a request. Default 10 s.
	HandshakeTimeout time.Duration
	// StaleTimeout is how long a connection may deliver nothing, not even a heartbeat, before it is dropped
	// and redialled. Default 15 s (three of the feed's default 5 s heartbeats).
	StaleTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a reconnect: MinBackoff×2^n after n reconnects in a row
	// that did not hold, at most MaxBackoff, each with jitter (a random wait between half of it and all of
	// it). After a close with 1013 or an HTTP 429 the backoff starts four steps higher. Defaults 250 ms and 30 s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MaxAttempts is how many reconnects in a row may fail before the client gives up (Err wraps
	// ErrGaveUp). 0, the default, means never.
	MaxAttempts int
	// RetryOnPolicy makes the client reconnect, with backoff, after a close with 1008 (policy violation).
	// Default false: it stops and Err returns the *CloseError.
	RetryOnPolicy bool
	// DisableCompression stops the client from offering permessage-deflate. Default: offered.
	DisableCompression bool
	// ViewDepth is the number of levels per side copied into each BookEvent. Default 10.
	ViewDepth int
	// EventBuffer is the capacity of the Events channel. Default 1024.
	EventBuffer int
	// Header is sent with every handshake, for example Authorization: Bearer TOKEN.
	Header http.Header
	// Logger receives the client's logs. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultStaleTimeout     = 15 * time.Second
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultViewDepth        = 10
	DefaultEventBuffer      = 1024
)

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid client config")

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.StaleTimeout == 0 {
		c.StaleTimeout = DefaultStaleTimeout
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.ViewDepth == 0 {
		c.ViewDepth = DefaultViewDepth
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field out of its range, after defaults are applied.
func (c Config) Validate() error {
	d := c.WithDefaults()
	checks := []struct {
		ok   bool
		what string
	}{
		{d.HandshakeTimeout > 0, "HandshakeTimeout must be positive"},
		{d.StaleTimeout >= 10*time.Millisecond, fmt.Sprintf("StaleTimeout %v < 10ms", d.StaleTimeout)},
		{d.MinBackoff > 0, "MinBackoff must be positive"},
		{d.MaxBackoff >= d.MinBackoff, fmt.Sprintf("MaxBackoff %v < MinBackoff %v", d.MaxBackoff, d.MinBackoff)},
		{d.MaxAttempts >= 0, "MaxAttempts is negative"},
		{d.ViewDepth > 0 && d.ViewDepth <= MaxDepth, fmt.Sprintf("ViewDepth %d out of range 1..%d", d.ViewDepth, MaxDepth)},
		{d.EventBuffer > 0, "EventBuffer must be positive"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.what)
		}
	}
	return nil
}

// Limits of a book subscription (docs/protocol.md §2).
const (
	MaxDepth      = 1000
	MinIntervalMS = 10
	MaxIntervalMS = 60000
	// MaxSymbolsPerRequest is the most symbols the client puts in one request (the feed's default limit is 200).
	MaxSymbolsPerRequest = 100
)

// BookOptions are the parameters of a book subscription.
type BookOptions struct {
	// Depth is the number of levels per side, 1..1000; 0 means the full book.
	Depth int
	// IntervalMS, when not 0, asks the feed to conflate: at most one update per symbol per interval,
	// 10..60000 ms. 0 means every update.
	IntervalMS int
}

// Validate reports a field out of its range.
func (o BookOptions) Validate() error {
	if o.Depth < 0 || o.Depth > MaxDepth {
		return fmt.Errorf("%w: depth %d out of range 1..%d (0: full book)", ErrConfig, o.Depth, MaxDepth)
	}
	if o.IntervalMS != 0 && (o.IntervalMS < MinIntervalMS || o.IntervalMS > MaxIntervalMS) {
		return fmt.Errorf("%w: interval_ms %d out of range %d..%d (0: every update)", ErrConfig, o.IntervalMS, MinIntervalMS, MaxIntervalMS)
	}
	return nil
}
