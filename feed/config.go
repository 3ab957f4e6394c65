package feed

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Config configures a Server. The zero value of every field means its documented default. (What its Hub
// keeps, the resume history, how long idle views linger and which symbols are metered, is HubConfig.)
type Config struct {
	// SendQueueBytes bounds the bytes queued for one connection and not yet written to its socket. A
	// connection whose queue would pass it is closed with 1013 (slow consumer). Default 8 MiB.
	SendQueueBytes int
	// SendQueueMessages bounds the messages queued for one connection. Default 65536.
	SendQueueMessages int
	// WriteTimeout bounds one write to a client, and how long a close frame may wait behind data already
	// in the socket before the connection is dropped. Default 10 s.
	WriteTimeout time.Duration
	// Heartbeat is the interval of "heartbeat" messages to every connection. Default 5 s.
	Heartbeat time.Duration
	// MaxMessageBytes bounds a client message; a larger one closes the connection with 1009. Default 64 KiB.
	MaxMessageBytes int
	// MaxMalformed is how many malformed client messages a connection may send within a minute; one more
	// closes it with 1008. Default 10.
	MaxMalformed int
	// MaxSubscriptions bounds the (channel, symbol) subscriptions of one connection; a request that would
	// pass it gets a limit_exceeded error and the connection is closed with 1008. Default 1000.
	MaxSubscriptions int
	// MaxSymbolsPerRequest bounds the symbols in one subscribe or unsubscribe. Default 200.
	MaxSymbolsPerRequest int
	// OpsPerSecond and OpsBurst form a token bucket on client messages; a connection over it is closed
	// with 1008. Defaults 50 and 100.
	OpsPerSecond float64
	OpsBurst     int
	// MaxConnections bounds open WebSocket connections; past it a handshake gets HTTP 429. Default 100000.
	MaxConnections int
	// CompressThreshold is the smallest frame that is compressed for connections that negotiated
	// permessage-deflate. Default 512 bytes.
	CompressThreshold int
	// DisableCompression turns permessage-deflate off. Default false: it is negotiated whenever a client
	// offers it.
	DisableCompression bool
	// Linger bounds how long a closing connection waits for the client's close frame before the socket is
	// dropped. Default 3 s.
	Linger time.Duration
	// DrainTimeout bounds Shutdown: each connection is sent what was already queued for it and closed with
	// 1001 within this time; connections still open then are dropped. Default 5 s.
	DrainTimeout time.Duration

	// Guard authenticates and limits WebSocket handshakes, and closes idle connections (see GuardConfig).
	Guard GuardConfig
	// Replayer, when set, serves recorded history on /replay (docs/protocol.md §4). Default nil: no /replay.
	Replayer Replayer
	// MaxReplays bounds the replays running at once on the server; past it a replay request gets a
	// limit_exceeded error. Default 8.
	MaxReplays int

	// Ready reports whether ingestion caught up (GET /readyz). Default: always ready.
	Ready func() bool
	// Metrics serves GET /metrics. Default: 404.
	Metrics http.Handler
	// Logger receives the feed's logs. Default slog.Default().
	Logger *slog.Logger
	// Meter records the feed's metrics. Default: a no-op meter.
	Meter metric.Meter
}

// Defaults.
const (
	DefaultSendQueueBytes       = 8 << 20
	DefaultSendQueueMessages    = 65536
	DefaultWriteTimeout         = 10 * time.Second
	DefaultHeartbeat            = 5 * time.Second
	DefaultMaxMessageBytes      = 64 << 10
	DefaultMaxMalformed         = 10
	DefaultMaxSubscriptions     = 1000
	DefaultMaxSymbolsPerRequest = 200
	DefaultOpsPerSecond         = 50
	DefaultOpsBurst             = 100
	DefaultMaxConnections       = 100000
	DefaultCompressThreshold    = 512
	DefaultLinger               = 3 * time.Second
	DefaultDrainTimeout         = 5 * time.Second
)

// ErrConfig is wrapped by the errors of Validate.
var ErrConfig = errors.New("invalid feed config")

func (c *Config) withDefaults() Config {
	d := *c
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&d.SendQueueBytes, DefaultSendQueueBytes)
	setInt(&d.SendQueueMessages, DefaultSendQueueMessages)
	setDur(&d.WriteTimeout, DefaultWriteTimeout)
	setDur(&d.Heartbeat, DefaultHeartbeat)
	setInt(&d.MaxMessageBytes, DefaultMaxMessageBytes)
	setInt(&d.MaxMalformed, DefaultMaxMalformed)
	setInt(&d.MaxSubscriptions, DefaultMaxSubscriptions)
	setInt(&d.MaxSymbolsPerRequest, DefaultMaxSymbolsPerRequest)
	if d.OpsPerSecond == 0 {
		d.OpsPerSecond = DefaultOpsPerSecond
	}
	setInt(&d.OpsBurst, DefaultOpsBurst)
	setInt(&d.MaxConnections, DefaultMaxConnections)
	setInt(&d.CompressThreshold, DefaultCompressThreshold)
	setDur(&d.Linger, DefaultLinger)
	setInt(&d.MaxReplays, DefaultMaxReplays)
	setDur(&d.DrainTimeout, DefaultDrainTimeout)
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// Validate reports the first field out of its range, after defaults are applied.
func (c *Config) Validate() error {
	d := c.withDefaults()
	checks := []struct {
		ok   bool
		what string
	}{
		{d.SendQueueBytes >= 4096, fmt.Sprintf("SendQueueBytes %d < 4096", d.SendQueueBytes)},
		{d.SendQueueMessages >= 16, fmt.Sprintf("SendQueueMessages %d < 16", d.SendQueueMessages)},
		{d.WriteTimeout > 0, "WriteTimeout must be positive"},
		{d.Heartbeat >= 100*time.Millisecond, fmt.Sprintf("Heartbeat %v < 100ms", d.Heartbeat)},
		{d.MaxMessageBytes >= 256, fmt.Sprintf("MaxMessageBytes %d < 256", d.MaxMessageBytes)},
		{d.MaxMalformed >= 0, "MaxMalformed is negative"},
		{d.MaxSubscriptions > 0, "MaxSubscriptions must be positive"},
		{d.MaxSymbolsPerRequest > 0, "MaxSymbolsPerRequest must be positive"},
		{d.OpsPerSecond > 0 && d.OpsBurst > 0, "OpsPerSecond and OpsBurst must be positive"},
		{d.MaxConnections > 0, "MaxConnections must be positive"},
		{d.CompressThreshold >= 0, "CompressThreshold is negative"},
		{d.Linger > 0, "Linger must be positive"},
		{d.MaxReplays > 0, "MaxReplays must be positive"},
		{d.DrainTimeout > 0, "DrainTimeout must be positive"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrConfig, ch.what)
		}
	}
	if err := d.Guard.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}
