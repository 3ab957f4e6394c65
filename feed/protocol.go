package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// Error codes of "error" replies (docs/protocol.md §2).
const (
	CodeBadRequest     = "bad_request"
	CodeUnknownOp      = "unknown_op"
	CodeUnknownChannel = "unknown_channel"
	CodeUnknownSymbol  = "unknown_symbol"
	CodeLimitExceeded  = "limit_exceeded"
	CodeUnauthorized   = "unauthorized"
	CodeUnavailable    = "unavailable"
)

// Limits of a book subscription.
const (
	MaxDepth      = 1000
	MinIntervalMS = 10
	MaxIntervalMS = 60000
)

// request is a client message.
type request struct {
	Op         string            `json:"op"`
	ID         *int64            `json:"id"`
	Channel    string            `json:"channel"`
	Symbols    []string          `json:"symbols"`
	Depth      *int              `json:"depth"`
	IntervalMS *int              `json:"interval_ms"`
	Resume     map[string]uint64 `json:"resume"`
}

// decodeRequest decodes data, which must hold exactly one JSON object, into v, and returns the request's
// id from *idp (-1 when absent). A malformed message or a negative id is answered and counted as malformed,
// and ok is false.
func (s *Server) decodeRequest(sess *session, data []byte, v any, idp **int64) (id int64, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		s.malformed(sess, -1, CodeBadRequest, "malformed JSON: "+err.Error())
		return -1, false
	}
	if dec.More() {
		s.malformed(sess, -1, CodeBadRequest, "one JSON object per message")
		return -1, false
	}
	if *idp == nil {
		return -1, true
	}
	if **idp < 0 {
		s.malformed(sess, -1, CodeBadRequest, "id must not be negative")
		return -1, false
	}
	return **idp, true
}

// doTimeout bounds how long a request waits for a book writer.
const doTimeout = 10 * time.Second

func (s *Server) handleRequest(sess *session, data []byte) {
	if sess.rp != nil {
		s.handleReplay(sess, data)
		return
	}
	var req request
	id, ok := s.decodeRequest(sess, data, &req, &req.ID)
	if !ok {
		return
	}
	switch req.Op {
	case "subscribe":
		s.handleSubscribe(sess, id, &req)
	case "unsubscribe":
		s.handleUnsubscribe(sess, id, &req)
	case "ping":
		var buf [96]byte
		sess.sendBytes(schema.AppendPong(buf[:0], id, schema.FormatTime(time.Now())))
	case "":
		s.malformed(sess, id, CodeBadRequest, "missing op")
	default:
		s.malformed(sess, id, CodeUnknownOp, fmt.Sprintf("unknown op %.40q", req.Op))
	}
}

// reply sends an error that does not count against the client.
func (s *Server) reply(sess *session, id int64, code, msg string) {
	sess.sendBytes(schema.AppendError(nil, id, code, msg))
}

// malformed sends an error for a malformed request and closes the connection with 1008 when the client
// sent more than MaxMalformed of them within a minute.
func (s *Server) malformed(sess *session, id int64, code, msg string) {
	s.metrics.badRequests.Add(context.Background(), 1)
	s.metrics.count.badRequests.Add(1)
	now := time.Now()
	keep := sess.malformed[:0]
	for _, t := range sess.malformed {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	sess.malformed = append(keep, now)
	if len(sess.malformed) > s.cfg.MaxMalformed {
		sess.close(ReasonMalformed, fmt.Sprintf("more than %d malformed messages in a minute", s.cfg.MaxMalformed))
		return
	}
	s.reply(sess, id, code, msg)
}

// checkSymbols validates a request's channel and symbols; it returns the deduplicated symbols and their hubs.
func (s *Server) checkSymbols(sess *session, id int64, req *request) ([]string, []*hub, bool) {
	switch req.Channel {
	case schema.ChannelBook, schema.ChannelTrades:
	case "":
		s.malformed(sess, id, CodeBadRequest, "missing channel")
		return nil, nil, false
	default:
		s.malformed(sess, id, CodeUnknownChannel, fmt.Sprintf("unknown channel %.40q: want book or trades", req.Channel))
		return nil, nil, false
	}
	if len(req.Symbols) == 0 {
		s.malformed(sess, id, CodeBadRequest, "symbols must list at least one symbol")
		return nil, nil, false
	}
	if len(req.Symbols) > s.cfg.MaxSymbolsPerRequest {
		s.reply(sess, id, CodeLimitExceeded, fmt.Sprintf("%d symbols in one request, limit %d", len(req.Symbols), s.cfg.MaxSymbolsPerRequest))
		return nil, nil, false
	}
	seen := make(map[string]bool, len(req.Symbols))
	var syms []string
	var hubs []*hub
	var unknown []string
	for _, sym := range req.Symbols {
		if seen[sym] {
			continue
		}
		seen[sym] = true
		h := s.lookup(sym)
		if h == nil {
			unknown = append(unknown, sym)
			continue
		}
		syms = append(syms, sym)
		hubs = append(hubs, h)
	}
	if len(unknown) > 0 {
		s.reply(sess, id, CodeUnknownSymbol, "no such symbol: "+quoteList(unknown))
		return nil, nil, false
	}
	return syms, hubs, true
}

func quoteList(ss []string) string {
	if len(ss) > 5 {
		ss = append(ss[:5:5], fmt.Sprintf("and %d more", len(ss)-5))
	}
	for i, v := range ss {
		if len(v) > 40 {
			ss[i] = v[:40] + "…"
		}
	}
	return strings.Join(ss, ", ")
}

func (s *Server) handleSubscribe(sess *session, id int64, req *request) {
	depth, interval := 0, 0
	if req.Channel == schema.ChannelBook {
		if req.Depth != nil {
			depth = *req.Depth
		}
		if req.IntervalMS != nil {
			interval = *req.IntervalMS
		}
		if depth < 0 || depth > MaxDepth {
			s.malformed(sess, id, CodeBadRequest, fmt.Sprintf("depth %d out of range: 1..%d, or 0 for the full book", depth, MaxDepth))
			return
		}
		if interval != 0 && (interval < MinIntervalMS || interval > MaxIntervalMS) {
			s.malformed(sess, id, CodeBadRequest, fmt.Sprintf("interval_ms %d out of range: %d..%d, or 0 for every update", interval, MinIntervalMS, MaxIntervalMS))
			return
		}
	}
	syms, hubs, ok := s.checkSymbols(sess, id, req)
	if !ok || !s.authorizeSymbols(sess, id, syms) {
		return
	}
	maxSubs := sess.maxSubscriptions(s.cfg.MaxSubscriptions)
	added := 0
	for _, sym := range syms {
		if sess.subs[subKey{req.Channel, sym}] == nil {
			added++
		}
	}
	if len(sess.subs)+added > maxSubs {
		s.reply(sess, id, CodeLimitExceeded, fmt.Sprintf("subscription limit %d reached", maxSubs))
		sess.close(ReasonTooManySubs, fmt.Sprintf("more than %d subscriptions", maxSubs))
		return
	}
	for _, sym := range syms {
		if old := sess.subs[subKey{req.Channel, sym}]; old != nil {
			s.unsubscribe(old) // a new subscribe replaces the old one (and a book starts from a fresh snapshot)
		}
	}
	reply := schema.AppendSubscribed(nil, "subscribed", id, req.Channel, syms, depth, interval)
	if req.Channel == schema.ChannelTrades {
		s.subscribeTrades(sess, hubs, reply)
		return
	}
	sess.sendBytes(reply)
	for i, sym := range syms {
		resume, hasResume := req.Resume[sym]
		ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
		err := s.subscribeBook(ctx, sess, hubs[i], viewKey{depth: depth, interval: time.Duration(interval) * time.Millisecond}, resume, hasResume)
		cancel()
		if err != nil {
			s.log.Warn("subscribe failed", "symbol", sym, "remote", sess.remote, "err", err)
			s.reply(sess, id, CodeUnavailable, fmt.Sprintf("%s is not available now: %v", sym, err))
		}
	}
}

func (s *Server) handleUnsubscribe(sess *session, id int64, req *request) {
	syms, _, ok := s.checkSymbols(sess, id, req)
	if !ok {
		return
	}
	sort.Strings(syms)
	for _, sym := range syms {
		if sub := sess.subs[subKey{req.Channel, sym}]; sub != nil {
			s.unsubscribe(sub)
		}
	}
	sess.sendBytes(schema.AppendSubscribed(nil, "unsubscribed", id, req.Channel, syms, 0, 0))
}
