package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// message is any message of the feed (docs/protocol.md §2).
type message struct {
	Type     string     `json:"type"`
	ID       *int64     `json:"id"`
	Channel  string     `json:"channel"`
	Symbol   string     `json:"symbol"`
	Seq      uint64     `json:"seq"`
	PrevSeq  *uint64    `json:"prev_seq"`
	Time     string     `json:"time"`
	Bids     [][]string `json:"bids"`
	Asks     [][]string `json:"asks"`
	Checksum *uint32    `json:"checksum"`
	Status   string     `json:"status"`
	Code     string     `json:"code"`
	Message  string     `json:"message"`
	Price    string     `json:"price"`
	Size     string     `json:"size"`
	Side     string     `json:"side"`
	TradeID  string     `json:"trade_id"`
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// handle applies one message and returns the events it gives, and the request to send when a book must be
// resubscribed. It runs on the reading goroutine.
func (c *Client) handle(data []byte) ([]Event, *request) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		return []Event{ErrorEvent{Err: fmt.Errorf("%w: %w", ErrBadMessage, err)}}, nil
	}
	switch m.Type {
	case schema.TypeSnapshot, schema.TypeUpdate:
		return c.applyBook(&m)
	case "trade":
		return c.trade(&m), nil
	case "status":
		return c.status(&m), nil
	case "subscribed":
		if !c.reply(m.ID, nil) {
			c.subscribed(m.ID)
		}
	case "unsubscribed", "pong":
		c.reply(m.ID, nil)
	case "error":
		err := &ServerError{Code: m.Code, Symbol: m.Symbol, Message: m.Message}
		if c.reply(m.ID, err) {
			return nil, nil
		}
		if evs, ok := c.refused(m.ID, err); ok {
			return evs, nil
		}
		return []Event{ErrorEvent{Symbol: m.Symbol, Err: err}}, nil
	case "heartbeat":
	}
	return nil, nil
}

// reply hands a reply to the Subscribe or Unsubscribe waiting for it, and reports whether one was.
func (c *Client) reply(id *int64, err error) bool {
	if id == nil {
		return false
	}
	c.mu.Lock()
	ch := c.pending[*id]
	delete(c.pending, *id)
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- err
	return true
}

func parseLevels(raw [][]string, dst []schema.Level) ([]schema.Level, error) {
	dst = dst[:0]
	for _, l := range raw {
		if len(l) < 2 {
			return nil, fmt.Errorf("%w: level %q", ErrBadMessage, l)
		}
		p, err := schema.ParseDecimal(l[0])
		if err != nil {
			return nil, fmt.Errorf("%w: price %q: %w", ErrBadMessage, l[0], err)
		}
		s, err := schema.ParseDecimal(l[1])
		if err != nil {
			return nil, fmt.Errorf("%w: size %q: %w", ErrBadMessage, l[1], err)
		}
		dst = append(dst, schema.Level{Price: p, Size: s})
	}
	return dst, nil
}

// applyBook applies a snapshot or an update to its local book. When the book cannot be trusted after it,
// it returns the request that asks for a fresh snapshot.
func (c *Client) applyBook(m *message) ([]Event, *request) {
	bids, err := parseLevels(m.Bids, nil)
	var asks []schema.Level
	if err == nil {
		asks, err = parseLevels(m.Asks, nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settleLocked(subKey{schema.ChannelBook, m.Symbol})
	s := c.books[m.Symbol]
	if s == nil {
		return nil, nil // unsubscribed meanwhile
	}
	if err != nil {
		return c.resyncLocked(s, err, nil)
	}
	snapshot := m.Type == schema.TypeSnapshot
	resumed := false
	if snapshot {
		if err := s.b.ApplySnapshot(m.Seq, m.Time, bids, asks); err != nil {
			return c.resyncLocked(s, fmt.Errorf("%w: %w", ErrBadMessage, err), nil)
		}
		c.stats.snapshots.Add(1)
		s.synced, s.resync, s.status = true, false, StatusLive
	} else {
		if !s.synced || s.resync {
			c.stats.dropped.Add(1)
			return nil, nil // from before the snapshot asked for
		}
		if m.PrevSeq == nil || *m.PrevSeq != s.b.Seq() {
			c.stats.gaps.Add(1)
			prev := "none"
			if m.PrevSeq != nil {
				prev = fmt.Sprint(*m.PrevSeq)
			}
			return c.resyncLocked(s, fmt.Errorf("%s: %w: update seq %d has prev_seq %s, the book is at seq %d", s.symbol, ErrGap, m.Seq, prev, s.b.Seq()), nil)
		}
		if err := s.b.ApplyDelta(m.Seq, m.Time, bids, asks); err != nil {
			return c.resyncLocked(s, fmt.Errorf("%w: %w", ErrBadMessage, err), nil)
		}
		c.stats.updates.Add(1)
		if s.status == StatusWaiting {
			s.status = StatusLive // a retried subscription the feed resumed
		}
		if s.fresh {
			resumed = true
			c.stats.resumes.Add(1)
		}
	}
	s.fresh = false
	s.sumOK = m.Checksum != nil && *m.Checksum == s.b.Checksum(s.opts.Depth)
	ev := BookEvent{Book: s.view(c.cfg.ViewDepth), Snapshot: snapshot, Resumed: resumed}
	if !s.sumOK {
		c.stats.checksums.Add(1)
		got := "none"
		if m.Checksum != nil {
			got = fmt.Sprint(*m.Checksum)
		}
		return c.resyncLocked(s, fmt.Errorf("%s: %w: seq %d carries %s, the local book gives %d", s.symbol, ErrChecksum, m.Seq, got, s.b.Checksum(s.opts.Depth)), ev)
	}
	return []Event{ev}, nil
}

// resyncLocked marks s as waiting for a fresh snapshot and returns the events that report it, after first
// (if not nil), and the request for the snapshot. Called under c.mu.
func (c *Client) resyncLocked(s *bookSub, err error, first Event) ([]Event, *request) {
	var evs []Event
	if first != nil {
		evs = append(evs, first)
	}
	evs = append(evs, ErrorEvent{Symbol: s.symbol, Err: err}, StatusEvent{Symbol: s.symbol, Status: StatusResync, Err: err})
	s.synced, s.resync, s.status = false, true, StatusResync
	c.nextID++
	req := bookRequest(c.nextID, s.opts, []string{s.symbol}, nil)
	c.trackLocked(req.ID, schema.ChannelBook, req.Symbols, 0)
	c.log.Debug("resubscribing", "symbol", s.symbol, "err", err)
	return evs, &req
}

func (c *Client) trade(m *message) []Event {
	c.mu.Lock()
	c.settleLocked(subKey{schema.ChannelTrades, m.Symbol})
	subscribed := c.trades[m.Symbol]
	c.mu.Unlock()
	if !subscribed {
		return nil
	}
	p, err1 := schema.ParseDecimal(m.Price)
	sz, err2 := schema.ParseDecimal(m.Size)
	t, err3 := parseTime(m.Time)
	if err := errors.Join(err1, err2, err3); err != nil {
		return []Event{ErrorEvent{Symbol: m.Symbol, Err: fmt.Errorf("%w: trade: %w", ErrBadMessage, err)}}
	}
	return []Event{TradeEvent{Symbol: m.Symbol, Seq: m.Seq, Time: t, Price: p, Size: sz, Side: m.Side, TradeID: m.TradeID}}
}

func (c *Client) status(m *message) []Event {
	st := Status(m.Status)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settleLocked(subKey{schema.ChannelBook, m.Symbol})
	s := c.books[m.Symbol]
	if s == nil || (st != StatusLive && st != StatusStale) {
		return nil
	}
	if s.status == st {
		return nil
	}
	s.status = st
	return []Event{StatusEvent{Symbol: m.Symbol, Status: st}}
}
