package ingest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/internal/ratelog"
	"github.com/depthcast/depthcast/schema"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Consumer reads every partition of the topic with one partition reader each (no consumer group: each node
// needs the whole stream) and feeds the records to the books of an engine.Pipeline it runs, which publish
// to a Publisher.
type Consumer struct {
	cfg    Config
	pub    engine.Publisher
	log    *slog.Logger
	tracer trace.Tracer // nil: no spans

	running atomic.Bool
	pipe    atomic.Pointer[engine.Pipeline]
	ready   atomic.Bool
	parts   atomic.Pointer[[]*partState] // of the current run, for the gauges
	outages atomic.Int64                 // partitions in an outage (see outage.go)

	restarts  metric.Int64Counter
	controls  metric.Int64Counter // transaction markers skipped
	kafkaLogs *ratelog.Limiter
}

var _ engine.Books = (*Consumer)(nil)

// partState is one partition's progress. next and hwm are read by the monitor and the gauges.
type partState struct {
	id     int
	attrs  metric.MeasurementOption
	start  int64        // offset the run started at
	target int64        // high watermark when the run started
	next   atomic.Int64 // next offset to read (all before it were handed to the pipeline)
	hwm    atomic.Int64 // latest high watermark seen
	// fetching is the number of the FetchMessage call waiting (they count up from 1 over the partition's
	// readers), 0 when none: a count, not a time, so that the reader reads no clock per record; the monitor
	// notes when it first saw each call waiting (fetchSeen, fetchSince).
	fetching atomic.Int64
	fetches  int64 // calls made, by the partition's reader goroutine only
	ready    atomic.Bool
	mu       sync.Mutex
	cancel   context.CancelFunc // cancels the current fetch loop (the watchdog restarts the reader)
	topicID  [16]byte           // the topic's ID as the partition's readers know it (reader.go, topicid.go)

	// Read and written by the monitor only (outage.go).
	contactAt  time.Time
	seenNext   int64
	outage     bool
	fetchSeen  int64 // the FetchMessage call (partState.fetching) last seen waiting
	fetchSince int64 // unix nanos when it was first seen waiting
}

// New validates cfg and returns a Consumer whose books publish to pub. Nothing runs until Run.
func New(cfg Config, pub engine.Publisher) (*Consumer, error) {
	if pub == nil {
		return nil, errors.New("nil Publisher")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	c := &Consumer{cfg: cfg, pub: pub, log: cfg.Logger, kafkaLogs: ratelog.New(1, 10)}
	// The fetch spans come from the provider of the writers' apply spans, which defaults to the consumer's.
	if tp := cfg.Books.TracerProvider; tp != nil {
		c.tracer = tp.Tracer(engine.TracerName)
	}
	var err error
	if c.controls, err = cfg.Meter.Int64Counter(metricControlRecords,
		metric.WithDescription("Transaction control markers skipped by the partition readers."), metric.WithUnit("{record}")); err != nil {
		return nil, err
	}
	c.restarts, err = cfg.Meter.Int64Counter(metricReaderRestarts,
		metric.WithDescription("Partition readers restarted after an error or a stall."), metric.WithUnit("{restart}"))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Ready reports whether every partition's consumed position reached the high watermark seen when Run
// started, with those records applied (an empty topic is ready at once), and no partition is in an outage
// (Config.OutageTimeout). Once caught up, only an outage turns it false until the next Run.
func (c *Consumer) Ready() bool { return c.ready.Load() && c.outages.Load() == 0 }

// Do runs fn on symbol's writer goroutine between two events; see engine.Books. It returns
// engine.ErrClosed when the consumer is not running.
func (c *Consumer) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	p := c.pipe.Load()
	if p == nil {
		return engine.ErrClosed
	}
	return p.Do(ctx, symbol, fn)
}

// Run discovers the partitions, reads their high watermarks, and runs the partition readers and the shard
// writers until ctx is done. It returns nil on a clean stop, after every goroutine it started has exited. It
// commits nothing. Broker trouble at start is retried (logged) until ctx ends; a partition in
// Config.Partitions that the topic does not have is an error.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("consumer already running")
	}
	defer c.running.Store(false)
	c.ready.Store(false)
	c.outages.Store(0)

	transport := &kafka.Transport{ClientID: c.cfg.ClientID, DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second}

	parts, err := c.discoverRetry(ctx, client)
	if err != nil {
		return err
	}
	if parts == nil { // ctx ended
		return nil
	}

	var dl *deadLetter
	bcfg := c.cfg.Books
	if c.cfg.DeadLetterTopic != "" {
		if dl, err = newDeadLetter(c.cfg, transport); err != nil {
			return err
		}
		onReject := bcfg.OnReject
		bcfg.OnReject = func(rec engine.Record, reason schema.Reason, err error) {
			if onReject != nil {
				onReject(rec, reason, err)
			}
			dl.enqueue(rec, reason, err)
		}
	}
	pipe, err := engine.New(bcfg, c.pub)
	if err != nil {
		if dl != nil {
			dl.close()
		}
		return err
	}
	reg, err := c.registerGauges()
	if err != nil {
		pipe.Close()
		if dl != nil {
			dl.close()
		}
		return err
	}
	c.parts.Store(&parts)
	c.pipe.Store(pipe)
	c.updateReady(parts)
	c.log.Info("consuming", slog.String("topic", c.cfg.Topic), slog.Int("partitions", len(parts)),
		slog.String("start", c.cfg.Start), slog.Int("shards", c.cfg.Books.Shards))

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, st := range parts {
		wg.Go(func() { c.readPartition(rctx, client, pipe, parts, st) })
	}
	spawn := func(st *partState, all []*partState) { wg.Go(func() { c.readPartition(rctx, client, pipe, all, st) }) }
	wg.Go(func() { c.monitor(rctx, client, pipe, parts, spawn) })
	<-ctx.Done()
	cancel()
	wg.Wait()

	c.pipe.Store(nil)
	pipe.Close() // writers finish what was queued; rejects during the drain still reach the dead-letter queue
	if dl != nil {
		dl.close()
	}
	_ = reg.Unregister()
	c.parts.Store(nil)
	c.log.Info("stopped", slog.String("topic", c.cfg.Topic))
	return nil
}

// discoverRetry runs discover until it succeeds, fails for good, or ctx ends (nil, nil).
func (c *Consumer) discoverRetry(ctx context.Context, client *kafka.Client) ([]*partState, error) {
	backoff := 250 * time.Millisecond
	for {
		parts, err := c.discover(ctx, client)
		if err == nil {
			return parts, nil
		}
		if errors.Is(err, kafkatopic.ErrNoPartition) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		c.log.Warn("cannot read topic metadata, retrying", slog.String("topic", c.cfg.Topic),
			slog.Any("error", err), slog.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// discover reads the bounds of the partitions the consumer reads and returns their states, each starting
// where Config.Start says.
func (c *Consumer) discover(ctx context.Context, client *kafka.Client) ([]*partState, error) {
	from, _ := kafkatopic.ParseStart(c.cfg.Start) // checked by Validate
	b, err := kafkatopic.ReadBounds(ctx, client, c.cfg.Topic, c.cfg.Partitions, from, kafka.ReadCommitted)
	if err != nil {
		return nil, err
	}
	parts := make([]*partState, len(b.Partitions))
	for i, id := range b.Partitions {
		st := &partState{id: id, start: b.Start[id], target: b.End[id],
			attrs: metric.WithAttributeSet(attribute.NewSet(attribute.Int("partition", id)))}
		st.next.Store(st.start)
		st.hwm.Store(st.target)
		if st.start >= st.target {
			st.ready.Store(true)
		}
		parts[i] = st
	}
	return parts, nil
}

// listOffsets lists one kind of offset of the consumer's partitions ids (see kafkatopic.ListOffsets), read
// committed: the "last offset" is the last stable offset, the end of what the partition readers are served.
func (c *Consumer) listOffsets(ctx context.Context, client *kafka.Client, ids []int, ts int64) (map[int]int64, error) {
	return kafkatopic.ListOffsets(ctx, client, c.cfg.Topic, ids, ts, kafka.ReadCommitted)
}

// readPartition runs a partition reader, restarting it at the next offset after an error or a stall,
// until ctx ends.
func (c *Consumer) readPartition(ctx context.Context, client *kafka.Client, pipe *engine.Pipeline, all []*partState, st *partState) {
	// The partition's counters are there at 0 from the start.
	c.restarts.Add(context.Background(), 0, st.attrs)
	c.controls.Add(context.Background(), 0, st.attrs)
	pipe.NotePartition(st.id)
	backoff := 100 * time.Millisecond
	for {
		r := newPartitionReader(client, c.cfg, st.id, st.next.Load())
		r.topicID = &st.topicID
		r.onReset = func(ctx context.Context, restarted bool) error {
			return pipe.Restart(ctx, st.id, restarted)
		}
		progressed, err := c.fetchLoop(ctx, r, pipe, all, st)
		if cerr := r.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if ctx.Err() != nil {
			return
		}
		if progressed {
			backoff = 100 * time.Millisecond
		}
		c.restarts.Add(context.Background(), 1, st.attrs)
		c.log.Warn("restarting partition reader", slog.String("topic", c.cfg.Topic),
			slog.Int("partition", st.id), slog.Int64("offset", st.next.Load()), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

var errStalled = errors.New("partition reader stalled")

// fetchLoop hands the reader's records to the pipeline until ctx ends, the watchdog cancels the loop, or a
// fetch fails: decoded into batches per shard (engine.Batcher), handed over as soon as the broker has nothing
// more past them, when the partition reaches the high watermark it had at start, and when events were held
// for holdWindow while the next record is not there yet (handoff.go). Every record read is handed over or
// rejected before it returns, unless ctx ends first. progressed reports whether any record went through.
func (c *Consumer) fetchLoop(ctx context.Context, r *partitionReader, pipe *engine.Pipeline, all []*partState, st *partState) (progressed bool, err error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st.mu.Lock()
	st.cancel = func() { cancel(errStalled) }
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.cancel = nil
		st.mu.Unlock()
	}()
	h := newHandOff(pipe.NewBatcher(), c.tracer, c.cfg.Topic, st.id)
	defer func() {
		// Hand over what is held, with the run's context: a stalled fetch (fctx cancelled) loses nothing.
		if h.held() && h.flush(ctx) == nil {
			st.next.Store(h.next())
		}
		h.drop(err)
	}()
	for {
		st.fetches++
		st.fetching.Store(st.fetches)
		m, err := r.FetchMessage(h.holdContext(fctx))
		st.fetching.Store(0)
		if err != nil {
			if h.holdEnded(fctx, err) { // nothing came within the hold window: hand over what is held
				if err := h.flush(fctx); err != nil {
					return progressed, err
				}
				st.next.Store(h.next())
				continue
			}
			if cause := context.Cause(fctx); cause != nil && ctx.Err() == nil {
				err = cause
			}
			return progressed, err
		}
		if isControlRecord(&m) { // a transaction marker: no data, but it counts as read
			c.controls.Add(context.Background(), 1, st.attrs)
			h.skip(m.Offset)
		} else {
			rec := engine.Record{Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: m.Key, Value: m.Value}
			if err := h.add(fctx, rec); err != nil {
				return progressed, err
			}
		}
		progressed = true
		if m.Offset+1 >= m.HighWaterMark { // the broker had nothing past it: do not keep it waiting
			if err := h.flush(fctx); err != nil {
				return progressed, err
			}
		}
		st.next.Store(h.next())
		if m.HighWaterMark > st.hwm.Load() {
			st.hwm.Store(m.HighWaterMark)
		}
		if !st.ready.Load() && m.Offset+1 >= st.target {
			if err := h.flush(fctx); err != nil {
				return progressed, err
			}
			st.next.Store(h.next())
			if err := c.caughtUp(fctx, pipe, all, st, m.Offset); err != nil {
				return progressed, err
			}
		}
	}
}

// caughtUp marks st ready once the record at offset, the last below the high watermark seen at start, and
// everything before it were applied.
func (c *Consumer) caughtUp(ctx context.Context, pipe *engine.Pipeline, all []*partState, st *partState, offset int64) error {
	if st.ready.Load() || offset+1 < st.target {
		return nil
	}
	if err := pipe.Flush(ctx); err != nil {
		return err
	}
	st.ready.Store(true)
	c.updateReady(all)
	return nil
}

func (c *Consumer) updateReady(all []*partState) {
	for _, st := range all {
		if !st.ready.Load() {
			return
		}
	}
	if !c.ready.Swap(true) {
		c.log.Info("caught up with the high watermarks seen at start", slog.String("topic", c.cfg.Topic))
	}
}

// monitor polls the high watermarks every PollInterval for the lag gauges, and restarts a reader whose
// FetchMessage has waited longer than StallTimeout while its partition holds records past its position
// (kafka-go FetchMessage can hang after broker trouble).
//
// When the consumer reads the whole topic (no Config.Partitions), each poll also reads the topic's metadata:
// partitions added to it are read from their first offset by new partition readers (spawn), without a
// restart. They do not hold readiness back.
func (c *Consumer) monitor(ctx context.Context, client *kafka.Client, pipe *engine.Pipeline, parts []*partState, spawn func(st *partState, all []*partState)) {
	ids := make([]int, len(parts))
	for i, st := range parts {
		ids[i] = st.id
	}
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, c.cfg.PollInterval)
		if len(c.cfg.Partitions) == 0 {
			if added := c.addedPartitions(qctx, client, ids); len(added) > 0 {
				parts = append(slices.Clip(parts), added...)
				c.parts.Store(&parts)
				for _, st := range added {
					ids = append(ids, st.id)
					spawn(st, parts)
				}
				c.log.Info("partitions added to the topic, reading them", slog.String("topic", c.cfg.Topic),
					slog.Int("added", len(added)), slog.Int("partitions", len(parts)))
			}
		}
		lasts, err := c.listOffsets(qctx, client, ids, kafka.LastOffset)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.kafkaLogs.Warn(c.log, "cannot read high watermarks", slog.Any("error", err))
				c.outageCheck(ctx, pipe, parts, false, time.Now())
			}
			continue
		}
		now := time.Now().UnixNano()
		for _, st := range parts {
			hwm := lasts[st.id]
			st.hwm.Store(hwm)
			call := st.fetching.Load()
			if call == 0 {
				continue
			}
			if call != st.fetchSeen {
				st.fetchSeen, st.fetchSince = call, now
			}
			if hwm <= st.next.Load() || time.Duration(now-st.fetchSince) < c.cfg.StallTimeout {
				continue
			}
			st.mu.Lock()
			if st.cancel != nil {
				st.cancel()
			}
			st.mu.Unlock()
		}
		c.outageCheck(ctx, pipe, parts, true, time.Now())
	}
}

// addedPartitions returns the states of the topic's partitions that are not in known, each starting at its
// first offset (everything in a partition added while serving is new). Errors are left to the next poll.
func (c *Consumer) addedPartitions(ctx context.Context, client *kafka.Client, known []int) []*partState {
	all, err := kafkatopic.Partitions(ctx, client, c.cfg.Topic, nil)
	if err != nil {
		return nil
	}
	var ids []int // sorted, as all is
	for _, id := range all {
		if !slices.Contains(known, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	firsts, err := c.listOffsets(ctx, client, ids, kafka.FirstOffset)
	if err != nil {
		return nil
	}
	added := make([]*partState, len(ids))
	for i, id := range ids {
		st := &partState{id: id, start: firsts[id], target: firsts[id],
			attrs: metric.WithAttributeSet(attribute.NewSet(attribute.Int("partition", id)))}
		st.next.Store(st.start)
		st.hwm.Store(st.start)
		st.ready.Store(true)
		added[i] = st
	}
	return added
}

func (c *Consumer) registerGauges() (metric.Registration, error) {
	m := c.cfg.Meter
	off, err := m.Int64ObservableGauge(metricPartitionOffset,
		metric.WithDescription("Next offset to read in the partition."), metric.WithUnit("{offset}"))
	if err != nil {
		return nil, err
	}
	lag, err := m.Int64ObservableGauge(metricPartitionLag,
		metric.WithDescription("Records in the partition past the reader's position (high watermark - next offset)."), metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ps := c.parts.Load()
		if ps == nil {
			return nil
		}
		for _, st := range *ps {
			next := st.next.Load()
			o.ObserveInt64(off, next, st.attrs)
			o.ObserveInt64(lag, max(0, st.hwm.Load()-next), st.attrs)
		}
		return nil
	}, off, lag)
}
