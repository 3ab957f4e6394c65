package feed

import (
	"fmt"
	"strings"
	"time"
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

// doTimeout bounds how long a request waits for a book writer.
const doTimeout = 10 * time.Second

// protocol serves the client messages of one connection, as its route says: the live protocol on /ws
// (liveConn, live.go) or the replay protocol on /replay (replayConn, replay_conn.go). The route picks it
// when it upgrades the connection. Its methods run on the connection's read goroutine.
type protocol interface {
	// handle serves one client text message (rate limits already applied).
	handle(data []byte)
	// closed lets go of what the connection holds (subscriptions, a playback): it is going away.
	closed()
}

// quoteList lists symbols for an error message: at most five, each cut at 40 bytes.
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
