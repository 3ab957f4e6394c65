package feed

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/schema"
)

// liveConn is the live protocol of one /ws connection (docs/protocol.md §2): subscribe, unsubscribe and
// ping against the Server's Hub, with books read through the Server's Books. It runs on the connection's
// read goroutine, which alone touches subs.
type liveConn struct {
	srv  *Server
	sess *session
	subs map[subKey]*subscription
}

var _ protocol = (*liveConn)(nil)

func newLiveConn(srv *Server, sess *session) *liveConn {
	return &liveConn{srv: srv, sess: sess, subs: map[subKey]*subscription{}}
}

// liveRequest is a client message on /ws.
type liveRequest struct {
	Op         string            `json:"op"`
	ID         *int64            `json:"id"`
	Channel    string            `json:"channel"`
	Symbols    []string          `json:"symbols"`
	Depth      *int              `json:"depth"`
	IntervalMS *int              `json:"interval_ms"`
	Resume     map[string]uint64 `json:"resume"`
}

func (c *liveConn) handle(data []byte) {
	var req liveRequest
	id, ok := c.sess.decodeRequest(data, &req, &req.ID)
	if !ok {
		return
	}
	switch req.Op {
	case "subscribe":
		c.subscribe(id, &req)
	case "unsubscribe":
		c.unsubscribe(id, &req)
	case "ping":
		c.sess.pong(id)
	default:
		c.sess.unknownOp(id, req.Op, "")
	}
}

// closed drops every subscription of the connection. Each unsubscribe takes one entry's lock on its own, so
// their order does not matter.
func (c *liveConn) closed() {
	for _, sub := range c.subs {
		c.srv.hub.unsubscribe(sub)
	}
	clear(c.subs)
}

// checkSymbols validates a request's channel and symbols; it returns the deduplicated symbols and their
// entries.
func (c *liveConn) checkSymbols(id int64, req *liveRequest) ([]string, []*entry, bool) {
	sess := c.sess
	switch req.Channel {
	case schema.ChannelBook, schema.ChannelTrades:
	case "":
		sess.malformed(id, CodeBadRequest, "missing channel")
		return nil, nil, false
	default:
		sess.malformed(id, CodeUnknownChannel, fmt.Sprintf("unknown channel %.40q: want book or trades", req.Channel))
		return nil, nil, false
	}
	if !sess.checkSymbolCount(id, req.Symbols) {
		return nil, nil, false
	}
	seen := make(map[string]bool, len(req.Symbols))
	var syms, unknown []string
	var entries []*entry
	for _, sym := range req.Symbols {
		if seen[sym] {
			continue
		}
		seen[sym] = true
		e := c.srv.hub.lookup(sym)
		if e == nil {
			unknown = append(unknown, sym)
			continue
		}
		syms = append(syms, sym)
		entries = append(entries, e)
	}
	if len(unknown) > 0 {
		sess.reply(id, CodeUnknownSymbol, "no such symbol: "+quoteList(unknown))
		return nil, nil, false
	}
	return syms, entries, true
}

func (c *liveConn) subscribe(id int64, req *liveRequest) {
	sess := c.sess
	depth, interval := 0, 0
	if req.Channel == schema.ChannelBook {
		if req.Depth != nil {
			depth = *req.Depth
		}
		if req.IntervalMS != nil {
			interval = *req.IntervalMS
		}
		if !sess.checkDepth(id, depth) {
			return
		}
		if interval != 0 && (interval < MinIntervalMS || interval > MaxIntervalMS) {
			sess.malformed(id, CodeBadRequest, fmt.Sprintf("interval_ms %d out of range: %d..%d, or 0 for every update", interval, MinIntervalMS, MaxIntervalMS))
			return
		}
	}
	syms, entries, ok := c.checkSymbols(id, req)
	if !ok || !sess.authorize(id, syms) {
		return
	}
	if req.Channel == schema.ChannelBook && len(req.Resume) > 0 && !c.srv.cfg.Ready() {
		if syms, entries = c.dropBehind(id, syms, entries, req.Resume); len(syms) == 0 {
			return
		}
	}
	maxSubs := sess.maxSubscriptions(c.srv.cfg.MaxSubscriptions)
	added := 0
	for _, sym := range syms {
		if c.subs[subKey{req.Channel, sym}] == nil {
			added++
		}
	}
	if len(c.subs)+added > maxSubs {
		sess.reply(id, CodeLimitExceeded, fmt.Sprintf("subscription limit %d reached", maxSubs))
		sess.close(ReasonTooManySubs, fmt.Sprintf("more than %d subscriptions", maxSubs))
		return
	}
	for _, sym := range syms {
		k := subKey{req.Channel, sym}
		if old := c.subs[k]; old != nil {
			c.srv.hub.unsubscribe(old) // a new subscribe replaces the old one (and a book starts from a fresh snapshot)
			delete(c.subs, k)
		}
	}
	reply := schema.AppendSubscribed(nil, "subscribed", id, req.Channel, syms, depth, interval)
	if req.Channel == schema.ChannelTrades {
		for _, sub := range c.srv.hub.subscribeTrades(sess, entries, reply) {
			c.subs[sub.key] = sub
		}
		return
	}
	sess.sendBytes(reply)
	k := viewKey{depth: depth, interval: time.Duration(interval) * time.Millisecond}
	for i, sym := range syms {
		resume, hasResume := req.Resume[sym]
		var sub *subscription
		ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
		// Do runs the subscription on the book's writer and, when it returns nil, has run it to its end;
		// when it returns an error the function never runs. Either way sub is this goroutine's to read.
		err := c.srv.books.Do(ctx, sym, func(b *book.Book) {
			sub = c.srv.hub.subscribeBook(b, sess, entries[i], k, resume, hasResume)
		})
		cancel()
		if err != nil {
			c.unreachable(id, sym, err)
			continue
		}
		if sub != nil {
			c.subs[sub.key] = sub
		}
	}
}

// unreachable answers unavailable for sym of the subscribe request id, whose book's writer did not run
// the subscription (err: the node stops, or the writer did not answer in time).
func (c *liveConn) unreachable(id int64, sym string, err error) {
	c.srv.log.Warn("subscribe failed", "symbol", sym, "remote", c.sess.remote, "err", err)
	c.sess.replySymbol(id, sym, CodeUnavailable, fmt.Sprintf("%s is not available now: %v", sym, err))
}

// dropBehind answers unavailable, before the "subscribed" reply, for each symbol whose book is behind the
// seq the client resumes from while this node is not ready (it has not read the stream as far as it stood
// when the node started): a snapshot now would take the client's book back in time. It returns the other
// symbols and their entries. A book that falls behind after this check has had its history start over, and
// is answered like one on a ready node: with a snapshot.
func (c *liveConn) dropBehind(id int64, syms []string, entries []*entry, resume map[string]uint64) ([]string, []*entry) {
	keepSyms, keepEntries := syms[:0:0], entries[:0:0]
	for i, sym := range syms {
		want, ok := resume[sym]
		if !ok {
			keepSyms, keepEntries = append(keepSyms, sym), append(keepEntries, entries[i])
			continue
		}
		var at uint64
		ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
		err := c.srv.books.Do(ctx, sym, func(b *book.Book) { at = b.Seq() })
		cancel()
		switch {
		case err != nil:
			c.unreachable(id, sym, err)
		case want > at && !c.srv.cfg.Ready():
			c.sess.replySymbol(id, sym, CodeUnavailable, fmt.Sprintf("%s is not available now: this node is catching up (its book is at seq %d, you hold %d); try again", sym, at, want))
		default:
			keepSyms, keepEntries = append(keepSyms, sym), append(keepEntries, entries[i])
		}
	}
	return keepSyms, keepEntries
}

func (c *liveConn) unsubscribe(id int64, req *liveRequest) {
	syms, _, ok := c.checkSymbols(id, req)
	if !ok {
		return
	}
	sort.Strings(syms)
	for _, sym := range syms {
		k := subKey{req.Channel, sym}
		if sub := c.subs[k]; sub != nil {
			c.srv.hub.unsubscribe(sub)
			delete(c.subs, k)
		}
	}
	c.sess.sendBytes(schema.AppendSubscribed(nil, "unsubscribed", id, req.Channel, syms, 0, 0))
}
