package engine

import (
	"context"
	"sync"

	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names of the books' writers. The Prometheus exporter turns them into depthcast_ingest_events_total
// and so on: the names are part of the operator's contract and keep the ingest prefix, the stage they
// measure.
const (
	MetricEvents     = "depthcast.ingest.events"           // counter {type}: valid events decoded
	MetricRejected   = "depthcast.ingest.records.rejected" // counter {reason}: records refused (schema.Reason)
	MetricSkipped    = "depthcast.ingest.events.skipped"   // counter {reason}: valid events without effect: duplicate, not_live
	MetricGaps       = "depthcast.ingest.gaps"             // counter: seq jumps seen
	MetricSymbols    = "depthcast.ingest.symbols"          // gauge: symbols known
	MetricStaleBooks = "depthcast.ingest.books.stale"      // gauge: known books that are not live
	MetricQueueDepth = "depthcast.ingest.shard.queue"      // gauge {shard}: events waiting in a shard queue
	MetricTapErrors  = "depthcast.ingest.tap.errors"       // counter {partition}: records a Config.Tap failed to take
)

// Skip reasons (attribute reason of MetricSkipped).
const (
	SkipDuplicate = "duplicate"
	SkipNotLive   = "not_live"
)

// pipelineMetrics are the instruments a Pipeline updates. Attribute sets are built once: the hot path adds
// to counters with prebuilt options and allocates nothing.
type pipelineMetrics struct {
	events   metric.Int64Counter
	rejected metric.Int64Counter
	skipped  metric.Int64Counter
	gaps     metric.Int64Counter

	typeOpt   [4][]metric.AddOption // by schema.EventType; slices, so that passing them builds none per call
	reasonOpt sync.Map              // schema.Reason -> metric.AddOption
	dupOpt    []metric.AddOption
	notLive   []metric.AddOption

	reg metric.Registration
}

func newPipelineMetrics(m metric.Meter, p *Pipeline) (*pipelineMetrics, error) {
	pm := &pipelineMetrics{
		dupOpt:  []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", SkipDuplicate)))},
		notLive: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", SkipNotLive)))},
	}
	for _, t := range []schema.EventType{schema.EventSnapshot, schema.EventDelta, schema.EventTrade} {
		pm.typeOpt[t] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("type", t.String())))}
	}
	var err error
	if pm.events, err = m.Int64Counter(MetricEvents, metric.WithDescription("Valid upstream events decoded, by type."), metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if pm.rejected, err = m.Int64Counter(MetricRejected, metric.WithDescription("Records rejected (bad record or refused by the book), by reason."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	if pm.skipped, err = m.Int64Counter(MetricSkipped, metric.WithDescription("Valid events skipped without effect (duplicate seq, delta for a book that is not live)."), metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if pm.gaps, err = m.Int64Counter(MetricGaps, metric.WithDescription("Sequence gaps seen (seq above last+1)."), metric.WithUnit("{gap}")); err != nil {
		return nil, err
	}
	symbols, err := m.Int64ObservableGauge(MetricSymbols, metric.WithDescription("Symbols known to ingest."), metric.WithUnit("{symbol}"))
	if err != nil {
		return nil, err
	}
	stale, err := m.Int64ObservableGauge(MetricStaleBooks, metric.WithDescription("Known books that are not live (before their first snapshot or after a gap)."), metric.WithUnit("{book}"))
	if err != nil {
		return nil, err
	}
	queue, err := m.Int64ObservableGauge(MetricQueueDepth, metric.WithDescription("Events waiting in a shard's hand-off queue."), metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	shardOpts := make([]metric.ObserveOption, len(p.shards))
	for i := range shardOpts {
		shardOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.Int("shard", i)))
	}
	pm.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n, live := p.nSymbols.Load(), p.nLive.Load()
		o.ObserveInt64(symbols, n)
		o.ObserveInt64(stale, n-live)
		for i, s := range p.shards {
			o.ObserveInt64(queue, int64(len(s.q))+s.batched.Load(), shardOpts[i])
		}
		return nil
	}, symbols, stale, queue)
	if err != nil {
		return nil, err
	}
	// Every series with a known attribute value is there at 0 from the start, so a dashboard or an alert
	// on a rate sees the counter before it first moves.
	ctx := context.Background()
	for _, t := range []schema.EventType{schema.EventSnapshot, schema.EventDelta, schema.EventTrade} {
		pm.events.Add(ctx, 0, pm.typeOpt[t]...)
	}
	for _, r := range schema.Reasons {
		pm.rejected.Add(ctx, 0, pm.reasonOption(r))
	}
	pm.skipped.Add(ctx, 0, pm.dupOpt...)
	pm.skipped.Add(ctx, 0, pm.notLive...)
	pm.gaps.Add(ctx, 0)
	return pm, nil
}

func (pm *pipelineMetrics) reject(r schema.Reason) {
	pm.rejected.Add(context.Background(), 1, pm.reasonOption(r))
}

// reasonOption is the attribute option of rejection reason r, built once.
func (pm *pipelineMetrics) reasonOption(r schema.Reason) metric.AddOption {
	opt, ok := pm.reasonOpt.Load(r)
	if !ok {
		opt, _ = pm.reasonOpt.LoadOrStore(r, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", string(r)))))
	}
	return opt.(metric.AddOption)
}

func (pm *pipelineMetrics) close() {
	if pm.reg != nil {
		_ = pm.reg.Unregister()
	}
}
