package feed

// CloseReason says why the feed closed a connection. Each reason maps to one WebSocket close code at the edge
// and is the "reason" attribute of the disconnect metric.
type CloseReason uint8

// Close reasons.
const (
	ReasonPeer         CloseReason = iota // the client closed, or the connection was lost
	ReasonNormal                          // 1000: normal close
	ReasonShutdown                        // 1001: the server is shutting down or draining
	ReasonProtocol                        // 1002: a protocol error in the client's frames
	ReasonBinary                          // 1003: a binary frame from the client
	ReasonMalformed                       // 1008: repeated malformed client messages
	ReasonTooManySubs                     // 1008: over the subscription limit
	ReasonRateLimit                       // 1008: client messages over the rate limit
	ReasonUnauthorized                    // 1008: not authorized
	ReasonTooBig                          // 1009: a client message over the size limit
	ReasonInternal                        // 1011: an unexpected server error
	ReasonSlowConsumer                    // 1013: the send queue passed its limit
	ReasonOverloaded                      // 1013: the server sheds load
	ReasonWriteTimeout                    // 1013: a write to the client did not complete within the write timeout
	ReasonTokenExpired                    // 1008: the client's token expired while it was connected
	ReasonIdle                            // 1008: nothing received (not even a pong) within the idle timeout
	ReasonInvalidData                     // 1007: a compressed client message that does not inflate
	ReasonPanic                           // 1002: the connection's read loop panicked on the client's bytes
)

var closeReasons = [...]struct {
	code uint16
	name string
}{
	ReasonPeer:         {1000, "peer"},
	ReasonNormal:       {1000, "normal"},
	ReasonShutdown:     {1001, "shutdown"},
	ReasonProtocol:     {1002, "protocol_error"},
	ReasonBinary:       {1003, "binary_frame"},
	ReasonMalformed:    {1008, "malformed"},
	ReasonTooManySubs:  {1008, "too_many_subscriptions"},
	ReasonRateLimit:    {1008, "rate_limit"},
	ReasonUnauthorized: {1008, "unauthorized"},
	ReasonTooBig:       {1009, "message_too_big"},
	ReasonInternal:     {1011, "internal_error"},
	ReasonSlowConsumer: {1013, "slow_consumer"},
	ReasonOverloaded:   {1013, "overloaded"},
	ReasonWriteTimeout: {1013, "write_timeout"},
	ReasonTokenExpired: {1008, "token_expired"},
	ReasonIdle:         {1008, "idle_timeout"},
	ReasonInvalidData:  {1007, "invalid_data"},
	ReasonPanic:        {1002, "panic"},
}

// Code returns the WebSocket close code of r.
func (r CloseReason) Code() uint16 {
	if int(r) < len(closeReasons) {
		return closeReasons[r].code
	}
	return 1011
}

// String returns the metric attribute value of r, such as "slow_consumer".
func (r CloseReason) String() string {
	if int(r) < len(closeReasons) {
		return closeReasons[r].name
	}
	return "unknown"
}

// reasonForCode maps a close code that gws chose on its own (for frames it refused) to a reason.
func reasonForCode(code uint16) CloseReason {
	switch code {
	case 1002:
		return ReasonProtocol
	case 1003:
		return ReasonBinary
	case 1007:
		return ReasonInvalidData
	case 1009:
		return ReasonTooBig
	case 1011:
		return ReasonInternal
	}
	return ReasonPeer
}

// maxCloseText is the longest close reason that fits a control frame (125 bytes minus the 2-byte code).
const maxCloseText = 123

func closeText(s string) string {
	if len(s) > maxCloseText {
		return s[:maxCloseText]
	}
	return s
}
