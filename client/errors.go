package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrClosed is returned by the methods of a closed client.
	ErrClosed = errors.New("client closed")
	// ErrGap: an update's prev_seq is not the seq of the book the client holds. The symbol is resubscribed.
	ErrGap = errors.New("sequence gap")
	// ErrChecksum: the book after a message does not have the checksum the feed sent. The symbol is
	// resubscribed.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrSilent: the connection delivered nothing, not even a heartbeat, for Config.StaleTimeout.
	ErrSilent = errors.New("connection silent")
	// ErrGaveUp: Config.MaxAttempts reconnects in a row failed.
	ErrGaveUp = errors.New("gave up reconnecting")
	// ErrDropped: the feed refused to restore or resubscribe a subscription with limit_exceeded,
	// unauthorized, bad_request or another code not worth a blind retry; the client dropped it.
	ErrDropped = errors.New("subscription dropped")
	// ErrBadMessage: a message from the feed could not be decoded or applied.
	ErrBadMessage = errors.New("bad message from the feed")
)

// WebSocket close codes the client acts on (docs/protocol.md §2).
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseAbnormal      = 1006
	CloseInvalidData   = 1007
	ClosePolicy        = 1008
	CloseTooBig        = 1009
	CloseInternal      = 1011
	CloseTryAgainLater = 1013
)

// CloseError is how the feed closed a connection: its close code and reason. A connection that ended
// without a close frame has Code 1006.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed by the feed with %d", e.Code)
	}
	return fmt.Sprintf("closed by the feed with %d: %s", e.Code, e.Reason)
}

// GoingAway reports a close with 1001: the node is shutting down or draining; reconnect at once.
func (e *CloseError) GoingAway() bool { return e.Code == CloseGoingAway }

// RetryLater reports a close with 1013: slow consumer or load shedding; reconnect after a backoff.
func (e *CloseError) RetryLater() bool { return e.Code == CloseTryAgainLater }

// Policy reports a close with 1008: not authorized, over a limit, or repeated malformed messages.
// Reconnecting unchanged would be refused again.
func (e *CloseError) Policy() bool { return e.Code == ClosePolicy }

// ClientFault reports a close the client caused by what it sent (1002, 1003, 1007, 1008, 1009).
func (e *CloseError) ClientFault() bool {
	switch e.Code {
	case CloseProtocolError, CloseUnsupported, CloseInvalidData, ClosePolicy, CloseTooBig:
		return true
	}
	return false
}

// CloseCode returns the close code of the *CloseError in err's chain, or 0 if there is none.
func CloseCode(err error) int {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// HandshakeError is a WebSocket handshake the feed answered with an HTTP status instead of an upgrade:
// 401 (no or bad token), 403 (origin), 429 (connection limit), 503 (draining).
type HandshakeError struct {
	StatusCode int
	Body       string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// RetryLater reports a refusal worth retrying after a backoff (429, 503 and other 5xx).
func (e *HandshakeError) RetryLater() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// ServerError is an "error" reply of the feed to a request (docs/protocol.md §7).
type ServerError struct {
	Code string // bad_request, unknown_op, unknown_channel, unknown_symbol, limit_exceeded, unauthorized, unavailable
	// Symbol is the symbol the error is about when the request's other symbols stand; empty when the error
	// concerns the whole request.
	Symbol  string
	Message string
}

// Error returns "feed error CODE: MESSAGE", with "for SYMBOL" after the code when the error names a symbol
// that its message does not.
func (e *ServerError) Error() string {
	if e.Symbol != "" && !strings.Contains(e.Message, e.Symbol) {
		return "feed error " + e.Code + " for " + e.Symbol + ": " + e.Message
	}
	return "feed error " + e.Code + ": " + e.Message
}

// fatal reports whether err ends the client instead of leading to a reconnect.
func (c *Client) fatal(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		if ce.Policy() {
			return !c.cfg.RetryOnPolicy
		}
		return ce.ClientFault()
	}
	var he *HandshakeError
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return true
		}
	}
	return false
}

// retryLater reports whether err asks for a longer backoff.
func retryLater(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.RetryLater()
	}
	var he *HandshakeError
	return errors.As(err, &he) && he.RetryLater()
}
