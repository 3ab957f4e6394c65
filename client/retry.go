package client

import (
	"fmt"
	"math/rand/v2"
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
// a gap or a checksum mismatch, or a retry of one of those), kept by request id until its reply comes.
type resub struct {
	channel string
	symbols []string
	subs    []*bookSub // for the book channel: the subscription of each symbol when the request was sent
	attempt int        // refusals of this symbol in a row before this request (single-symbol requests)
}

// retryKey names one subscription waiting for a retry.
type retryKey struct{ channel, symbol string }

// retryEntry is one subscription waiting for a retry: when it is due, and how many refusals came before.
type retryEntry struct {
	due     time.Time
	attempt int
	sub     *bookSub // the book subscription retried; nil for trades
}

// trackLocked records that the subscribe request id carries symbols of channel. Called under c.mu.
func (c *Client) trackLocked(id int64, channel string, symbols []string, attempt int) {
	r := &resub{channel: channel, symbols: symbols, attempt: attempt}
	if channel == schema.ChannelBook {
		for _, s := range symbols {
			r.subs = append(r.subs, c.books[s])
		}
	}
	c.resubs[id] = r
}

// current reports whether the subscription that r made for its i-th symbol is still the one the client
// holds: not unsubscribed, nor replaced by a later SubscribeBook. Called under c.mu.
func (r *resub) current(c *Client, i int) bool {
	if r.channel == schema.ChannelBook {
		return r.subs[i] != nil && c.books[r.symbols[i]] == r.subs[i]
	}
	return c.trades[r.symbols[i]]
}

// subscribed forgets the request id, answered with "subscribed"; it reports whether it was one of the
// client's own.
func (c *Client) subscribed(id *int64) bool {
	if id == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.resubs[*id]
	delete(c.resubs, *id)
	return ok
}

// refused handles an error reply to one of the client's own subscribe requests and returns the events that
// report it; ok is false when id is not one of them. unknown_symbol and unavailable are retried, one symbol
// per request, with exponential backoff and jitter; any other refusal drops the subscriptions.
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
	delete(c.resubs, *id)
	retry := serr.Code == codeUnknownSymbol || serr.Code == codeUnavailable
	woken := false
	for i, s := range r.symbols {
		if !r.current(c, i) {
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
		// Refused for unknown symbols, some of a request's symbols may be known: each on its own, at once.
		var delay time.Duration
		attempt := r.attempt
		if len(r.symbols) == 1 || serr.Code != codeUnknownSymbol {
			delay = c.retryDelay(attempt)
			attempt++
		}
		e := &retryEntry{due: timeNow().Add(delay), attempt: attempt}
		if r.channel == schema.ChannelBook {
			sub := r.subs[i]
			e.sub = sub
			sub.status = StatusWaiting
			evs = append(evs, StatusEvent{Symbol: s, Status: StatusWaiting, Err: serr, Delay: delay})
		} else {
			evs = append(evs, ErrorEvent{Symbol: s, Err: fmt.Errorf("client: trades %s: %w, retried in %v", s, serr, delay)})
		}
		c.retries[retryKey{r.channel, s}] = e
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
