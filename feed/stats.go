package feed

import (
	"sync/atomic"
	"time"
)

// counters are plain atomic counts kept beside the OpenTelemetry instruments, updated at the same points,
// so that GET /v1/stats can answer without a metrics reader. Each update is one atomic add.
type counters struct {
	started       time.Time
	opened        atomic.Int64
	refused       atomic.Int64
	messagesOut   atomic.Int64
	bytesOut      atomic.Int64
	slowConsumers atomic.Int64
	badRequests   atomic.Int64
	closes        [len(closeReasons)]atomic.Int64 // by CloseReason
}

func (c *counters) recordClose(r CloseReason) {
	if int(r) < len(c.closes) {
		c.closes[r].Add(1)
	}
}

// Stats is the answer of GET /v1/stats: the feed's health in one small JSON document. Counts are totals
// since the server started; connections, subscriptions, queued bytes and symbols are current values.
type Stats struct {
	Time               string       `json:"time"`
	UptimeSeconds      float64      `json:"uptime_seconds"`
	Connections        int64        `json:"connections"`
	ConnectionsOpened  int64        `json:"connections_opened"`
	ConnectionsRefused int64        `json:"connections_refused"`
	Subscriptions      int          `json:"subscriptions"`
	MessagesSent       int64        `json:"messages_sent"`
	BytesSent          int64        `json:"bytes_sent"`
	BytesQueued        int64        `json:"bytes_queued"`
	SlowConsumers      int64        `json:"slow_consumers"`
	MalformedRequests  int64        `json:"malformed_requests"`
	Closes             []CloseCount `json:"closes"`
	Symbols            SymbolCounts `json:"symbols"`
}

// CloseCount is how many connections closed for one reason, with the close code it maps to.
type CloseCount struct {
	Reason string `json:"reason"`
	Code   uint16 `json:"code"`
	Count  int64  `json:"count"`
}

// SymbolCounts counts the symbols the feed knows by book status.
type SymbolCounts struct {
	Total int `json:"total"`
	Live  int `json:"live"`
	Stale int `json:"stale"`
}
