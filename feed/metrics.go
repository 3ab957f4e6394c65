package feed

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are the feed's OpenTelemetry instruments. With the Prometheus exporter they appear at /metrics as
// depthcast_feed_*.
type metrics struct {
	connects      metric.Int64Counter
	refused       metric.Int64Counter
	disconnects   metric.Int64Counter
	slowConsumers metric.Int64Counter
	messagesOut   metric.Int64Counter
	bytesOut      metric.Int64Counter
	badRequests   metric.Int64Counter

	count counters // the same counts as plain atomics, for GET /v1/stats
}

func newMetrics(m metric.Meter, s *Server) (*metrics, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("depthcast/feed")
	}
	var out metrics
	out.count.started = time.Now()
	var err error
	counter := func(dst *metric.Int64Counter, name, desc, unit string) {
		if err == nil {
			*dst, err = m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit(unit))
		}
	}
	counter(&out.connects, "depthcast.feed.connections.opened", "WebSocket connections accepted.", "{connection}")
	counter(&out.refused, "depthcast.feed.connections.refused", "WebSocket handshakes refused: the connection limit, or at the door (by reason).", "{connection}")
	counter(&out.disconnects, "depthcast.feed.disconnects", "Connections closed, by close reason and code.", "{connection}")
	counter(&out.slowConsumers, "depthcast.feed.slow_consumers", "Connections closed because their send queue passed its limit or a write to them timed out.", "{connection}")
	counter(&out.messagesOut, "depthcast.feed.messages.sent", "Messages written to clients.", "{message}")
	counter(&out.bytesOut, "depthcast.feed.bytes.sent", "Bytes written to clients, frames included.", "By")
	counter(&out.badRequests, "depthcast.feed.requests.malformed", "Malformed client messages.", "{message}")
	if err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("depthcast.feed.connections", metric.WithDescription("Open WebSocket connections."),
		metric.WithUnit("{connection}"), metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.conns.Load())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("depthcast.feed.queue.bytes", metric.WithDescription("Bytes queued for clients and not yet written, all connections."),
		metric.WithUnit("By"), metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(s.queuedBytes())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("depthcast.feed.subscriptions", metric.WithDescription("Book views and trade subscriptions by channel."),
		metric.WithUnit("{subscription}"), metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			books, trades := s.hub.subscriptionCount()
			o.Observe(int64(books + trades))
			return nil
		}))
	return &out, err
}
