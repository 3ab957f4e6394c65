package feed

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
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
	latency       metric.Float64Histogram
	latencyOpt    [channelTrades + 1][]metric.RecordOption // by channelID

	count counters // the same counts as plain atomics, for GET /v1/stats
}

// channelID is the channel of a timed message (see message.event).
type channelID uint8

const (
	channelNone channelID = iota
	channelBook
	channelTrades
)

// latencyBuckets are the bounds of the latency histogram, in seconds: 0.5 ms to 10 s.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// observeLatency records, for each live book or trade message of a batch just written to a socket and not
// yet observed, the time from its upstream event to now: each message counts once, at its first write.
func (m *metrics) observeLatency(batch []*message) {
	var now time.Time
	for _, msg := range batch {
		if msg.event == "" || msg.timed.Load() || !msg.timed.CompareAndSwap(false, true) {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, msg.event)
		if err != nil {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		m.latency.Record(context.Background(), max(0, now.Sub(t).Seconds()), m.latencyOpt[msg.channel]...)
	}
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
	if out.latency, err = m.Float64Histogram("depthcast.feed.latency",
		metric.WithDescription("Time from an event's upstream time to its message's first write to a client socket, by channel (live book and trade messages)."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	for ch, name := range map[channelID]string{channelBook: "book", channelTrades: "trades"} {
		out.latencyOpt[ch] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", name)))}
	}
	// Every counter, with each attribute value it can take, is there at 0 from the start.
	ctx := context.Background()
	for _, c := range []metric.Int64Counter{out.connects, out.slowConsumers, out.messagesOut, out.bytesOut, out.badRequests} {
		c.Add(ctx, 0)
	}
	for _, reason := range refuseReasons {
		out.refused.Add(ctx, 0, metric.WithAttributes(attribute.String("reason", reason)))
	}
	for r := range closeReasons {
		out.disconnects.Add(ctx, 0, metric.WithAttributes(attribute.String("reason", CloseReason(r).String()), attribute.Int("code", int(CloseReason(r).Code()))))
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
	bookOpt := metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", "book")))
	tradesOpt := metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", "trades")))
	_, err = m.Int64ObservableGauge("depthcast.feed.subscriptions", metric.WithDescription("Book and trade subscriptions, by channel."),
		metric.WithUnit("{subscription}"), metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			books, trades := s.hub.subscriptionCount()
			o.Observe(int64(books), bookOpt)
			o.Observe(int64(trades), tradesOpt)
			return nil
		}))
	if err != nil {
		return nil, err
	}
	_, err = m.Float64ObservableGauge("depthcast.feed.symbol.event_age",
		metric.WithDescription("Seconds since the last event published for the symbol (the first symbols to appear, up to --symbol-metrics)."),
		metric.WithUnit("s"), metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			s.hub.observeEventAges(time.Now(), func(symbol string, age float64) {
				o.Observe(age, metric.WithAttributes(attribute.String("symbol", symbol)))
			})
			return nil
		}))
	return &out, err
}
