package client

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Error codes of the feed that a refused restore or resubscribe is retried after (docs/protocol.md §2): the node
// does not know the symbol yet (a node that has just started learns symbols from the stream as it catches
// up), or is busy.
const (
	codeUnknownSymbol = "unknown_symbol"
	codeUnavailable   = "unavailable"
)

// resub is a subscribe request the client made on its own (a restore after a reconnect, a resubscribe after
// a gap or a checksum mismatch, or a retry of one of those), kept by request id while any of its symbols is
// unsettled. The feed may refuse one symbol of a request by an error that names it, before the "subscribed"
// reply (which then leaves the symbol out) or after it (docs/protocol.md §7); so a symbol is settled only by
// such an error, by the first message of the channel for it after "subscribed", or by a newer request for
// it. An error that names no symbol settles the whole request. A symbol is in one tracked request at most
// (Client.resubOf), and the connection's end forgets them all: what is tracked is bounded by the
// subscriptions.
type resub struct {
	channel  string
	answered bool // "subscribed" came: from now on a message for a symbol is of this request's subscription
	syms     []resubSym
}

// resubSym is one unsettled symbol of a resub.
type resubSym struct {
	symbol  string
	sub     *bookSub // for the book channel: the symbol's subscription when the request was sent
	attempt int      // refusals of this symbol in a row before this request
}

// subKey names one subscription: its channel and symbol.
type subKey struct{ channel, symbol string }

// retryEntry is one subscription waiting for a retry: when it is due, and how many refusals came before.
type retryEntry struct {
	due     time.Time
	attempt int
	sub     *bookSub // the book subscription retried; nil for trades
}

// trackLocked records that the subscribe request id, made by the client on its own, carries symbols of
// channel, each refused attempt times in a row before it. It supersedes any earlier request of the client's
// own for these symbols, so that each symbol is in one tracked request at most. Called under c.mu.
func (c *Client) trackLocked(id int64, channel string, symbols []string, attempt int) {
	r := &resub{channel: channel}
	for _, s := range symbols {
		k := subKey{channel, s}
		c.supersedeLocked(k)
		c.resubOf[k] = id
		e := resubSym{symbol: s, attempt: attempt}
		if channel == schema.ChannelBook {
			e.sub = c.books[s]
		}
		r.syms = append(r.syms, e)
	}
	c.resubs[id] = r
}

// supersedeLocked forgets the symbol of k in the request of the client's own that carries it, if any: a
// newer request for it (or an Unsubscribe) is what stands now. Called under c.mu.
func (c *Client) supersedeLocked(k subKey) {
	if id, ok := c.resubOf[k]; ok {
		c.forgetLocked(id, k)
	}
}

// settleLocked forgets the symbol of k in the request of the client's own that carries it, if that request
// was answered with "subscribed": a message for the symbol has come, so the feed will not refuse it any
// more. Called under c.mu for every book, status and trade message.
func (c *Client) settleLocked(k subKey) {
	if id, ok := c.resubOf[k]; ok && c.resubs[id] != nil && c.resubs[id].answered {
		c.forgetLocked(id, k)
	}
}

// forgetLocked removes the symbol of k from the request id, and the request once none of its symbols is
// left. Called under c.mu.
func (c *Client) forgetLocked(id int64, k subKey) {
	if c.resubOf[k] == id {
		delete(c.resubOf, k)
	}
	r := c.resubs[id]
	if r == nil {
		return
	}
	r.syms = slices.DeleteFunc(r.syms, func(e resubSym) bool { return e.symbol == k.symbol })
	if len(r.syms) == 0 {
		delete(c.resubs, id)
	}
}

// current reports whether the subscription that a request of channel made for e is still the one the client
// holds: not unsubscribed, nor replaced by a later SubscribeBook. Called under c.mu.
func (e resubSym) current(c *Client, channel string) bool {
	if channel == schema.ChannelBook {
		return e.sub != nil && c.books[e.symbol] == e.sub
	}
	return c.trades[e.symbol]
}

// subscribed records that the request id was answered with "subscribed", if it is one of the client's own:
// its symbols stay tracked until each is settled.
func (c *Client) subscribed(id *int64) {
	if id == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.resubs[*id]; r != nil {
		r.answered = true
	}
}

// refused handles an error reply to one of the client's own subscribe requests and returns the events that
// report it; ok is false when id is not one of them. An error that names a symbol concerns that symbol
// alone, and one that names none every symbol of the request not yet settled. unknown_symbol and
// unavailable are retried, one symbol per request, with exponential backoff and jitter; any other refusal
// drops the subscriptions.
func (c *Client) refused(id *int64, serr *ServerError) (evs []Event, ok bool) {
	if id == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.resubs[*id]
	if r == nil {
		return nil, false
	}
	targets := slices.Clone(r.syms)
	if serr.Symbol != "" {
		i := slices.IndexFunc(r.syms, func(e resubSym) bool { return e.symbol == serr.Symbol })
		if i < 0 {
			// Settled or superseded meanwhile: the subscription that stands is another request's.
			c.log.Debug("refusal of a symbol no longer waiting for it", "channel", r.channel, "symbol", serr.Symbol, "code", serr.Code)
			return nil, true
		}
		targets = []resubSym{r.syms[i]}
	}
	for _, e := range targets {
		c.forgetLocked(*id, subKey{r.channel, e.symbol})
	}
	retry := serr.Code == codeUnknownSymbol || serr.Code == codeUnavailable
	woken := false
	for _, t := range targets {
		s := t.symbol
		if !t.current(c, r.channel) {
			continue // unsubscribed or subscribed anew meanwhile
		}
		if !retry {
			if r.channel == schema.ChannelBook {
				delete(c.books, s)
			} else {
				delete(c.trades, s)
			}
			c.log.Warn("subscription refused; dropped", "channel", r.channel, "symbol", s, "code", serr.Code)
			evs = append(evs, ErrorEvent{Symbol: s, Err: fmt.Errorf("client: %s %s: %w: %w", r.channel, s, ErrDropped, serr)})
			continue
		}
		// Refused whole for unknown symbols, some of a request's symbols may be known: each on its own, at once.
		var delay time.Duration
		attempt := t.attempt
		if len(targets) == 1 || serr.Code != codeUnknownSymbol {
			delay = c.retryDelay(attempt)
			attempt++
		}
		e := &retryEntry{due: timeNow().Add(delay), attempt: attempt}
		if r.channel == schema.ChannelBook {
			e.sub = t.sub
			t.sub.status = StatusWaiting
			evs = append(evs, StatusEvent{Symbol: s, Status: StatusWaiting, Err: serr, Delay: delay})
		} else {
			evs = append(evs, ErrorEvent{Symbol: s, Err: fmt.Errorf("client: trades %s: %w, retried in %v", s, serr, delay)})
		}
		c.retries[subKey{r.channel, s}] = e
		woken = true
	}
	if woken {
		select {
		case c.retryWake <- struct{}{}:
		default:
		}
	}
	return evs, true
}

// retryDelay returns the wait before a retry after attempt refusals in a row: MinBackoff×2^attempt, at most
// MaxBackoff, with jitter.
func (c *Client) retryDelay(attempt int) time.Duration {
	d := c.cfg.MinBackoff
	for i := 0; i < attempt && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// retryLoop sends the retries when they are due, on the current connection, until Close. It is the one
// goroutine of all retries; it never emits events.
func (c *Client) retryLoop() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		next, err := c.sendDue()
		if err != nil {
			c.log.Debug("retrying a subscription", "err", err) // the connection is going; the next restores it
		}
		var fire <-chan time.Time
		if !next.IsZero() {
			d := max(next.Sub(timeNow()), 0)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			fire = timer.C
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.retryWake:
			if timer != nil {
				timer.Stop()
			}
		case <-fire:
		}
	}
}

// sendDue sends the retries that are due and returns when the next one is (zero: none waits, or there is no
// connection). It holds c.mu while it writes, so that an Unsubscribe is sent after the retry it races with.
func (c *Client) sendDue() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return time.Time{}, nil // the next connection restores every subscription
	}
	now := timeNow()
	var next time.Time
	for k, e := range c.retries {
		if e.due.After(now) {
			if next.IsZero() || e.due.Before(next) {
				next = e.due
			}
			continue
		}
		delete(c.retries, k)
		var req request
		c.nextID++
		if k.channel == schema.ChannelBook {
			sub := c.books[k.symbol]
			if sub == nil || sub != e.sub {
				continue
			}
			var resume map[string]uint64
			if sub.synced {
				resume = map[string]uint64{k.symbol: sub.b.Seq()}
			} else {
				sub.resync = true
			}
			sub.fresh = true
			req = bookRequest(c.nextID, sub.opts, []string{k.symbol}, resume)
		} else {
			if !c.trades[k.symbol] {
				continue
			}
			req = request{Op: "subscribe", ID: c.nextID, Channel: schema.ChannelTrades, Symbols: []string{k.symbol}}
		}
		c.trackLocked(req.ID, k.channel, req.Symbols, e.attempt)
		if err := c.write(c.conn, req); err != nil {
			return time.Time{}, fmt.Errorf("client: retrying %s %s: %w", k.channel, k.symbol, err)
		}
	}
	return next, nil
}
