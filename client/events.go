package client

import (
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Event is one thing the client learned: a BookEvent, TradeEvent, StatusEvent, StateEvent or ErrorEvent.
type Event interface{ isEvent() }

// BookEvent reports a change of a local book: a snapshot, or an update applied to it.
type BookEvent struct {
	Book BookView
	// Snapshot is true when the book was replaced by a snapshot.
	Snapshot bool
	// Resumed is true for the first update after a reconnect that the feed continued from the seq the
	// client held, instead of sending a snapshot.
	Resumed bool
}

// TradeEvent is a trade print.
type TradeEvent struct {
	Symbol  string
	Seq     uint64
	Time    time.Time
	Price   schema.Decimal
	Size    schema.Decimal
	Side    string // "buy" or "sell": the aggressor
	TradeID string
}

// Status is the state of one symbol's local book.
type Status string

// Book statuses.
const (
	// StatusLive: the book follows the feed.
	StatusLive Status = "live"
	// StatusStale: the feed says its own book cannot be trusted (an upstream gap); a snapshot follows when it
	// recovers.
	StatusStale Status = "stale"
	// StatusResync: the client found a gap or a checksum mismatch and asked for a fresh snapshot.
	StatusResync Status = "resync"
	// StatusWaiting: the feed refused to restore or resubscribe the book for now (unknown_symbol: a node that
	// has just started and does not know the symbol yet; unavailable: a busy node, or one still catching up
	// whose book is behind the seq the client resumes from). The client retries the symbol on its own request
	// after StatusEvent.Delay, with exponential backoff, until it is subscribed.
	StatusWaiting Status = "waiting"
)

// StatusEvent reports a change of a book's status. Err says why for StatusResync and StatusWaiting (for
// StatusWaiting a *ServerError); Delay is the wait before the next retry for StatusWaiting.
type StatusEvent struct {
	Symbol string
	Status Status
	Err    error
	Delay  time.Duration
}

// State is the state of the client's connection.
type State int

// Connection states.
const (
	StateConnecting State = iota // dialling
	StateConnected               // connected; subscriptions restored
	StateWaiting                 // the connection was lost; waiting for the backoff before dialling again
	StateClosed                  // closed by Close, or stopped by an error that is not retried (see Err)
)

// String returns "connecting", "connected", "waiting" or "closed".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateWaiting:
		return "waiting"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// StateEvent reports a change of the connection's state. Err is why the last connection or dial ended
// (nil when there is none); Delay and Attempt are set for StateWaiting: the wait before the next dial and its
// number since the last connection that held.
type StateEvent struct {
	State   State
	Err     error
	Delay   time.Duration
	Attempt int
}

// ErrorEvent reports an error that the client handles on its own: a gap or checksum mismatch (Symbol set;
// the symbol is resubscribed), a message it could not decode, an error reply to a request it made itself
// (Symbol set when the reply names the one symbol it is about).
// A subscription the feed refused on restore or resubscribe with a code other than unknown_symbol or
// unavailable is dropped: one ErrorEvent per symbol, Symbol set, Err wrapping ErrDropped and the
// *ServerError. A refused trades subscription that is retried is reported by an ErrorEvent wrapping the
// *ServerError.
type ErrorEvent struct {
	Symbol string
	Err    error
}

func (BookEvent) isEvent()   {}
func (TradeEvent) isEvent()  {}
func (StatusEvent) isEvent() {}
func (StateEvent) isEvent()  {}
func (ErrorEvent) isEvent()  {}

// BookView is a read-only copy of the top of a local book.
type BookView struct {
	Symbol string
	// Depth is the subscription's depth (0: full book).
	Depth int
	// Seq is the seq of the last message applied; Time its time.
	Seq  uint64
	Time time.Time
	// Bids and Asks hold the best levels, best first, in canonical decimals.
	Bids, Asks []schema.Level
	// ChecksumOK reports that the book after the last message has the checksum the feed sent.
	ChecksumOK bool
	// Status is the book's status.
	Status Status
}

// BestBid returns the best bid, if any.
func (v BookView) BestBid() (schema.Level, bool) {
	if len(v.Bids) == 0 {
		return schema.Level{}, false
	}
	return v.Bids[0], true
}

// BestAsk returns the best ask, if any.
func (v BookView) BestAsk() (schema.Level, bool) {
	if len(v.Asks) == 0 {
		return schema.Level{}, false
	}
	return v.Asks[0], true
}

// Spread returns best ask minus best bid, if both sides have a level and the difference fits.
func (v BookView) Spread() (schema.Decimal, bool) {
	b, okb := v.BestBid()
	a, oka := v.BestAsk()
	if !okb || !oka {
		return schema.Decimal{}, false
	}
	exp := max(a.Price.Exp, b.Price.Exp)
	ac, ok1 := a.Price.Rescale(exp)
	bc, ok2 := b.Price.Rescale(exp)
	if !ok1 || !ok2 {
		return schema.Decimal{}, false
	}
	return schema.Decimal{Coef: ac - bc, Exp: exp}.Canonical(), true
}
