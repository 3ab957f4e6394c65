package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/depthcast/depthcast/schema"
	"github.com/gorilla/websocket"
)

var timeNow = time.Now

// closeWait bounds how long Close waits for the feed's answer to its close frame.
const closeWait = time.Second

// dial makes one WebSocket handshake.
func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	conn, resp, err := c.dialer.DialContext(ctx, c.url, c.cfg.Header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			return nil, fmt.Errorf("client: dial %s: %w", c.url, &HandshakeError{StatusCode: resp.StatusCode, Body: string(body)})
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	conn.SetReadLimit(64 << 20)
	return conn, nil
}

// run owns the connections: it serves each one, and after one ends waits its backoff and dials the next,
// until Close or an error that is not retried.
func (c *Client) run(conn *websocket.Conn, lost chan struct{}) {
	retryDone := make(chan struct{})
	go func() {
		defer close(retryDone)
		c.retryLoop()
	}()
	defer close(c.done)
	defer close(c.events)
	defer func() {
		c.cancel()
		<-retryDone
	}()
	var lastErr error
	attempt := 0 // reconnects since the last connection that held
	for {
		if conn == nil {
			delay := c.backoff(lastErr, attempt)
			attempt++
			c.setState(StateWaiting)
			c.emit(StateEvent{State: StateWaiting, Err: lastErr, Delay: delay, Attempt: attempt})
			if !c.sleep(delay) {
				break
			}
			c.setState(StateConnecting)
			c.emit(StateEvent{State: StateConnecting, Attempt: attempt})
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.HandshakeTimeout)
			var err error
			conn, err = c.dial(ctx)
			cancel()
			if c.ctx.Err() != nil {
				if conn != nil {
					_ = conn.Close()
				}
				break
			}
			if err != nil {
				lastErr = err
				c.log.Debug("reconnect failed", "url", c.url, "attempt", attempt, "err", err)
				if c.fatal(err) {
					c.stop(err)
					return
				}
				if c.cfg.MaxAttempts > 0 && attempt >= c.cfg.MaxAttempts {
					c.stop(fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt, err))
					return
				}
				continue
			}
		}
		start := timeNow()
		err := c.serve(conn, lost)
		conn, lost = nil, nil
		if c.ctx.Err() != nil {
			break
		}
		if timeNow().Sub(start) >= c.cfg.StaleTimeout {
			attempt = 0 // it held
		}
		lastErr = err
		c.log.Debug("connection lost", "url", c.url, "err", err)
		if c.fatal(err) {
			c.stop(err)
			return
		}
	}
	c.stop(nil)
}

// stop records why the client stopped and reports it.
func (c *Client) stop(err error) {
	c.err = err
	c.setState(StateClosed)
	c.cancel()
	// The consumer may have stopped reading: do not block on a full channel.
	select {
	case c.events <- StateEvent{State: StateClosed, Err: err}:
	default:
	}
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// backoff returns the wait before reconnect attempt+1 after err.
func (c *Client) backoff(err error, attempt int) time.Duration {
	var ce *CloseError
	if attempt == 0 && errors.As(err, &ce) && ce.GoingAway() {
		return 0
	}
	n := attempt
	if retryLater(err) {
		n += 4
	}
	d := c.cfg.MinBackoff
	for i := 0; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or until Close; it reports whether the client is still running.
func (c *Client) sleep(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// emit sends ev on Events, or drops it when the client is closing.
func (c *Client) emit(ev Event) {
	select {
	case c.events <- ev:
	case <-c.ctx.Done():
	}
}

// serve restores the subscriptions on conn and reads it until it ends; it returns why. lost, when not nil,
// is a connection that Dial already made current (with nothing to restore).
func (c *Client) serve(conn *websocket.Conn, lost chan struct{}) error {
	c.stats.connects.Add(1)
	first := lost != nil
	if !first {
		lost = make(chan struct{})
	}
	watched := make(chan struct{})
	go func() { // closes the connection when the client is closed
		defer close(watched)
		select {
		case <-c.ctx.Done():
			c.wmu.Lock()
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseNormal, "client closing"), timeNow().Add(closeWait))
			c.wmu.Unlock()
			// The feed answers with its own close frame, which ends the read; if it does not, end it here.
			t := time.NewTimer(closeWait)
			defer t.Stop()
			select {
			case <-t.C:
				_ = conn.NetConn().Close()
			case <-lost:
			}
		case <-lost:
		}
	}()
	defer func() {
		c.mu.Lock()
		c.conn, c.lost = nil, nil
		c.mu.Unlock()
		close(lost)
		<-watched
		_ = conn.Close()
	}()

	if !first {
		if err := c.restore(conn, lost); err != nil {
			return err
		}
	}
	c.emit(StateEvent{State: StateConnected})
	for {
		_ = conn.SetReadDeadline(timeNow().Add(c.cfg.StaleTimeout))
		_, data, err := conn.ReadMessage()
		if err != nil {
			return readError(err, c.cfg.StaleTimeout)
		}
		evs, resub := c.handle(data)
		if resub != nil {
			_ = c.write(conn, *resub) // a failed write ends the connection; the next one resubscribes
		}
		for _, ev := range evs {
			c.emit(ev)
		}
	}
}

// readError turns the error that ended a read into a *CloseError, ErrSilent or a wrapped network error.
func readError(err error, stale time.Duration) error {
	var we *websocket.CloseError
	if errors.As(err, &we) {
		return &CloseError{Code: we.Code, Reason: we.Text}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: nothing received for %v", ErrSilent, stale)
	}
	return fmt.Errorf("%w: %w", &CloseError{Code: CloseAbnormal, Reason: "connection lost"}, err)
}

// restore sends on conn the requests that restore every subscription (book subscriptions grouped by
// options, with the seq each synced book resumes from), then makes conn the current connection. It holds
// c.mu throughout, so that a Subscribe either is among them or is sent after them.
func (c *Client) restore(conn *websocket.Conn, lost chan struct{}) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	type group struct {
		opts    BookOptions
		symbols []string
		resume  map[string]uint64
	}
	// Requests of an earlier connection are not answered any more; this one restores everything anew.
	clear(c.resubs)
	clear(c.resubOf)
	clear(c.retries)
	var groups []*group
	syms := make([]string, 0, len(c.books))
	for s := range c.books {
		syms = append(syms, s)
	}
	slices.Sort(syms)
	for _, s := range syms {
		sub := c.books[s]
		var g *group
		for _, x := range groups {
			if x.opts == sub.opts && len(x.symbols) < MaxSymbolsPerRequest {
				g = x
			}
		}
		if g == nil {
			g = &group{opts: sub.opts, resume: map[string]uint64{}}
			groups = append(groups, g)
		}
		g.symbols = append(g.symbols, s)
		sub.fresh = true
		if sub.synced {
			g.resume[s] = sub.b.Seq()
		} else {
			sub.resync = true
		}
	}
	var reqs []request
	for _, g := range groups {
		c.nextID++
		reqs = append(reqs, bookRequest(c.nextID, g.opts, g.symbols, g.resume))
		c.trackLocked(c.nextID, schema.ChannelBook, g.symbols, 0)
	}
	var tsyms []string
	for s := range c.trades {
		tsyms = append(tsyms, s)
	}
	slices.Sort(tsyms)
	for chunk := range slices.Chunk(tsyms, MaxSymbolsPerRequest) {
		c.nextID++
		reqs = append(reqs, request{Op: "subscribe", ID: c.nextID, Channel: schema.ChannelTrades, Symbols: chunk})
		c.trackLocked(c.nextID, schema.ChannelTrades, chunk, 0)
	}
	for _, r := range reqs {
		if err := c.write(conn, r); err != nil {
			return fmt.Errorf("client: restoring subscriptions: %w", err)
		}
	}
	c.conn, c.lost = conn, lost
	c.state = StateConnected
	return nil
}
