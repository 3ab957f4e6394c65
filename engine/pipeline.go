package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/internal/ratelog"
	"github.com/depthcast/depthcast/schema"
	"go.opentelemetry.io/otel/trace"
)

// Publisher receives what the writers do: the feed's Hub, live or for one replay. Every call for a symbol
// comes from that symbol's single writer goroutine, in event order; b is only valid during the call (do not
// retain it).
type Publisher interface {
	// PublishBook is called after a snapshot (snapshot=true) or a delta was applied to b.
	PublishBook(b *book.Book, snapshot bool)
	// PublishTrade is called for a trade of b.Symbol() (whether or not the book is live).
	PublishTrade(b *book.Book, e *schema.Event)
	// PublishStatus is called when a symbol is first seen (b.Live()==false) and when a live book goes stale.
	PublishStatus(b *book.Book)
}

// Books gives access to the books on their writers. Pipeline implements it, and so do the inputs built on a
// Pipeline (the Kafka consumer, a replay's player); the feed reads books through it.
type Books interface {
	// Do runs fn on the single writer of symbol's book, between two events, and waits for it: fn sees one
	// consistent version of the book, and whatever fn queues for clients cannot be overtaken by a later
	// change of that book. When Do returns nil, fn has run to its end. When Do returns an error (ctx ended
	// first, an unknown symbol, closed), fn has not run and never will, so fn may touch state the caller
	// owns. fn must not retain b, block, or call back into the books.
	Do(ctx context.Context, symbol string, fn func(b *book.Book)) error
}

var _ Books = (*Pipeline)(nil)

// Record is one raw upstream record, from Kafka or from a recording.
type Record struct {
	Partition int
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
}

// Errors returned by Do, Submit and Flush.
var (
	// ErrUnknownSymbol: no event of the symbol has been seen.
	ErrUnknownSymbol = errors.New("unknown symbol")
	// ErrClosed: the books are not running (closed, or not started yet).
	ErrClosed = errors.New("books are not running")
)

type itemKind uint8

const (
	itemEvent itemKind = iota
	itemDo
	itemFlush
	itemShard
	itemBatch
)

// item is one entry of a shard queue: an event to apply, or a function to run between two events.
type item struct {
	kind  itemKind
	ev    schema.Event
	rec   Record
	fn    func(*book.Book)
	sfn   func(*shard)      // itemShard: runs on the shard's writer
	batch *eventBatch       // itemBatch: events to apply in order (batch.go)
	sc    trace.SpanContext // the fetch span the event was submitted under, when tracing
	done  chan error
	claim *atomic.Uint32 // itemDo: doPending, then doRunning (writer) or doAbandoned (caller gave up)
}

// The states of an itemDo's claim: whichever side moves it out of doPending first decides whether fn runs.
const (
	doPending uint32 = iota
	doRunning
	doAbandoned
)

// Pipeline turns records into book changes: Submit decodes and validates a record in the caller's goroutine
// and hands the event to the shard that owns its symbol (hash of the symbol); the shard's writer goroutine
// checks the sequence, applies the event to the book and calls the Publisher. It has no notion of Kafka: the
// Consumer feeds it from partition readers, a replay feeds it from a recording.
type Pipeline struct {
	cfg    Config
	pub    Publisher
	log    *slog.Logger
	shards []*shard
	// batchSize is the capacity of a shard's batch buffers (batch.go).
	batchSize int

	stop      chan struct{} // closed by Close: no more submissions
	done      chan struct{} // closed when every writer has exited
	closeOnce sync.Once
	wg        sync.WaitGroup

	nSymbols atomic.Int64 // symbols known
	nLive    atomic.Int64 // of which live

	m       *pipelineMetrics
	tracer  trace.Tracer // nil: no spans
	tap     *tapper      // nil without Config.Tap
	rejLogs *ratelog.Limiter
	gapLogs *ratelog.Limiter
}

// shard owns the books of the symbols that hash to it. Only its goroutine touches syms.
type shard struct {
	p    *Pipeline
	idx  int // in p.shards
	q    chan item
	syms map[string]*symState
	tctx context.Context // the open apply span's context while tracing
	cur  item            // the item being handled: a field, so that receiving one allocates nothing

	free    chan *eventBatch // batch buffers not in use (batch.go)
	batched atomic.Int64     // events of the queued batches beyond one per batch, for the queue gauge
}

type symState struct {
	b    *book.Book
	last uint64 // seq of the last event that took effect (or was skipped as not live); 0: none yet
	live bool   // b.Live() as last counted in Pipeline.nLive
	part int32  // partition of the symbol's last record
	held bool   // marked stale by a partition outage (not a gap): revived when the stream resumes in order
}

// New validates cfg and starts the shard writers, which publish to pub. Close stops them.
func New(cfg Config, pub Publisher) (*Pipeline, error) {
	if pub == nil {
		return nil, errors.New("engine: nil Publisher")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	p := &Pipeline{
		cfg:     cfg,
		pub:     pub,
		log:     cfg.Logger,
		shards:  make([]*shard, cfg.Shards),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		rejLogs: ratelog.New(5, 20),
		gapLogs: ratelog.New(5, 20),
		tracer:  tracerOf(cfg.TracerProvider),
	}
	size, nbuf := batchBuffers(cfg.QueueSize)
	p.batchSize = size
	for i := range p.shards {
		s := &shard{p: p, idx: i, q: make(chan item, cfg.QueueSize), syms: make(map[string]*symState),
			free: make(chan *eventBatch, nbuf)}
		for range nbuf {
			s.free <- new(eventBatch) // its entries are allocated when first used
		}
		p.shards[i] = s
	}
	m, err := newPipelineMetrics(cfg.Meter, p)
	if err != nil {
		return nil, err
	}
	p.m = m
	if p.tap, err = newTapper(cfg); err != nil {
		m.close()
		return nil, err
	}
	for _, s := range p.shards {
		p.wg.Add(1)
		go s.run()
	}
	return p, nil
}

// decoders hold the Decoders of the goroutines that call Submit. A Decoder remembers the last time it
// decoded, so a record with the same time as the one before costs no new string.
var decoders = sync.Pool{New: func() any { return new(schema.Decoder) }}

// Submit decodes and validates rec and queues its event on the shard of its symbol. It blocks while that
// queue is full. A record that fails decoding or validation is counted, logged (rate-limited), passed to
// OnReject and skipped: Submit returns nil for it. Then the Tap, if any, sees the record. Submit returns
// ErrClosed after Close and ctx.Err() when ctx ends first. Records of one symbol must be submitted in order
// from one goroutine at a time (Kafka gives that per partition, and a symbol lives in one partition).
func (p *Pipeline) Submit(ctx context.Context, rec Record) error {
	select {
	case <-p.stop:
		return ErrClosed
	default:
	}
	// Readers submit concurrently: each takes a decoder (with its interned symbols) from the pool. The
	// event itself is fresh, since it goes to another goroutine.
	d := decoders.Get().(*schema.Decoder)
	var ev schema.Event
	ok := p.decode(ctx, d, rec, &ev)
	decoders.Put(d)
	if ok {
		it := item{kind: itemEvent, ev: ev, rec: rec}
		if p.tracer != nil {
			it.sc = trace.SpanContextFromContext(ctx)
		}
		if err := p.shardOf(ev.Symbol).enqueue(ctx, it); err != nil {
			return err
		}
	}
	p.tap.record(ctx, rec)
	return nil
}

// decode decodes and checks rec into ev with d and counts the event; a record that does not decode, or
// whose Kafka key is not its symbol, is rejected and decode reports false.
func (p *Pipeline) decode(ctx context.Context, d *schema.Decoder, rec Record, ev *schema.Event) bool {
	if err := d.Decode(rec.Value, ev); err != nil {
		p.reject(ctx, rec, "", schema.ReasonOf(err), err)
		return false
	}
	if len(rec.Key) > 0 && string(rec.Key) != ev.Symbol {
		// A record keyed for one symbol's partition must not move another symbol's book.
		err := &schema.EventError{Reason: schema.ReasonKeyMismatch,
			Msg: fmt.Sprintf("key %.70q is not the symbol %q", rec.Key, ev.Symbol)}
		p.reject(ctx, rec, ev.Symbol, schema.ReasonKeyMismatch, err)
		return false
	}
	p.m.events.Add(context.Background(), 1, p.m.typeOpt[ev.Type]...)
	return true
}

// enqueue puts it on s's queue, waiting while the queue is full; it returns ErrClosed after Close, or ctx's
// error.
func (s *shard) enqueue(ctx context.Context, it item) error {
	select { // the usual case, without the cost of a three-way select
	case s.q <- it:
		return nil
	default:
	}
	select {
	case s.q <- it:
		return nil
	case <-s.p.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do runs fn on the writer goroutine of symbol's book, between two events: fn sees one consistent version of
// the book, and whatever fn hands on (a snapshot for a new subscriber, say) cannot be overtaken by a later
// Publish call for that symbol. Do blocks until fn has run. It returns ErrUnknownSymbol for a symbol never
// seen, ErrClosed when the pipeline is closed, and ctx.Err() if ctx ends before the writer reached fn.
// Whenever Do returns an error, fn has not run and never will; when it returns nil, fn has run to its end.
// fn must not retain b, block, or call Do, Submit or Flush.
func (p *Pipeline) Do(ctx context.Context, symbol string, fn func(b *book.Book)) error {
	if fn == nil {
		return errors.New("engine: nil func")
	}
	done := make(chan error, 1)
	it := item{kind: itemDo, ev: schema.Event{Symbol: symbol}, fn: fn, done: done, claim: new(atomic.Uint32)}
	return p.enqueueWait(ctx, p.shardOf(symbol), it)
}

// Flush waits until every event submitted before the call has been applied and published.
func (p *Pipeline) Flush(ctx context.Context) error {
	for _, s := range p.shards {
		if err := p.enqueueWait(ctx, s, item{kind: itemFlush, done: make(chan error, 1)}); err != nil {
			return err
		}
	}
	return nil
}

// enqueueWait queues it on s and waits until the writer has run it.
func (p *Pipeline) enqueueWait(ctx context.Context, s *shard, it item) error {
	select {
	case <-p.stop:
		return ErrClosed
	default:
	}
	if err := s.enqueue(ctx, it); err != nil {
		return err
	}
	select {
	case err := <-it.done:
		return err
	case <-p.done:
		select {
		case err := <-it.done: // ran while draining
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		if it.claim != nil && !it.claim.CompareAndSwap(doPending, doAbandoned) {
			// The writer is running fn now: fn is short by contract, so wait for its result.
			select {
			case err := <-it.done:
				return err
			case <-p.done:
				return <-it.done
			}
		}
		return ctx.Err()
	}
}

// Close stops accepting records, lets the writers finish what is already queued, and waits for them to
// exit. It is safe to call more than once and from any goroutine except a writer (a Publisher call or a Do
// func).
func (p *Pipeline) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.m.close()
		close(p.done)
	})
}

// NotePartition tells the pipeline that records of partition part will come: the partition's series of
// its metrics (the Tap's errors) are there at 0 from then on.
func (p *Pipeline) NotePartition(part int) {
	if p.tap != nil {
		p.tap.errs.Add(context.Background(), 0, p.tap.option(part))
	}
}

// Run holds the pipeline open until ctx is done, then closes it: a Pipeline its owner feeds (Submit, a
// Batcher) is the input of a node, as the Kafka consumer is.
func (p *Pipeline) Run(ctx context.Context) error {
	<-ctx.Done()
	p.Close()
	return nil
}

// Ready reports true: a pipeline fed by its owner has no upstream to catch up with.
func (p *Pipeline) Ready() bool { return true }

// Symbols returns how many symbols are known and how many of their books are live.
func (p *Pipeline) Symbols() (known, live int) {
	return int(p.nSymbols.Load()), int(p.nLive.Load())
}

func (p *Pipeline) shardOf(symbol string) *shard {
	return p.shards[p.shardIndex(symbol)]
}

// shardIndex is the index of the shard that owns symbol.
func (p *Pipeline) shardIndex(symbol string) int {
	// FNV-1a, inline so that routing allocates nothing.
	h := uint32(2166136261)
	for i := 0; i < len(symbol); i++ {
		h ^= uint32(symbol[i])
		h *= 16777619
	}
	return int(h % uint32(len(p.shards)))
}

// reject counts, logs (rate-limited) and reports a record that did not take effect.
func (p *Pipeline) reject(ctx context.Context, rec Record, symbol string, reason schema.Reason, err error) {
	p.m.reject(reason)
	attrs := []slog.Attr{
		slog.Int("partition", rec.Partition),
		slog.Int64("offset", rec.Offset),
		slog.String("reason", string(reason)),
		slog.String("error", err.Error()),
	}
	if symbol != "" {
		attrs = append(attrs, slog.String("symbol", symbol))
	}
	p.rejLogs.WarnContext(ctx, p.log, "record rejected", attrs...)
	if p.cfg.OnReject != nil {
		p.cfg.OnReject(rec, reason, err)
	}
}

func (s *shard) run() {
	defer s.p.wg.Done()
	for {
		// The usual case under load: an item is waiting, and a plain receive costs less than the two-way
		// select.
		select {
		case s.cur = <-s.q:
		default:
			select {
			case s.cur = <-s.q:
			case <-s.p.stop:
				for {
					select {
					case s.cur = <-s.q:
						s.handleCur()
					default:
						return
					}
				}
			}
		}
		s.handleCur()
	}
}

// handleCur handles s.cur and lets go of what it refers to.
func (s *shard) handleCur() {
	if s.p.tracer != nil && (s.cur.kind == itemEvent || s.cur.kind == itemBatch) {
		s.handleTraced(&s.cur)
	} else {
		s.handle(&s.cur)
	}
	s.cur = item{}
}

func (s *shard) handle(it *item) {
	switch it.kind {
	case itemEvent:
		s.apply(&it.ev, &it.rec)
	case itemDo:
		if !it.claim.CompareAndSwap(doPending, doRunning) {
			return // the caller gave up first: fn must not run
		}
		st := s.syms[it.ev.Symbol]
		if st == nil {
			it.done <- ErrUnknownSymbol
			return
		}
		it.fn(st.b)
		it.done <- nil
	case itemFlush:
		it.done <- nil
	case itemShard:
		it.sfn(s)
		it.done <- nil
	case itemBatch:
		s.applyBatch(it.batch)
	}
}

// apply runs the per-symbol rules of docs/protocol.md §1 for one valid event.
func (s *shard) apply(ev *schema.Event, rec *Record) {
	p := s.p
	ctx := context.Background()
	st := s.syms[ev.Symbol]
	if st == nil {
		st = &symState{b: book.New(ev.Symbol)}
		st.b.SetMaxLevels(p.cfg.MaxBookLevels)
		s.syms[ev.Symbol] = st
		p.nSymbols.Add(1)
		p.pub.PublishStatus(st.b)
	}
	if ev.Seq <= st.last {
		p.m.skipped.Add(ctx, 1, p.m.dupOpt...)
		return
	}
	st.part = int32(rec.Partition)
	if st.held {
		s.unhold(st, ev.Seq)
	}
	if st.last != 0 && ev.Seq != st.last+1 {
		p.m.gaps.Add(ctx, 1)
		wasLive := st.b.Live()
		p.gapLogs.WarnContext(s.logContext(), p.log, "sequence gap",
			slog.String("symbol", ev.Symbol), slog.Uint64("last_seq", st.last), slog.Uint64("seq", ev.Seq),
			slog.String("type", ev.Type.String()), slog.Bool("was_live", wasLive),
			slog.Int("partition", rec.Partition), slog.Int64("offset", rec.Offset))
		if ev.Type != schema.EventSnapshot && wasLive {
			st.b.MarkStale()
			s.syncLive(st)
			p.pub.PublishStatus(st.b)
		}
	}
	switch ev.Type {
	case schema.EventSnapshot:
		if err := st.b.ApplySnapshot(ev.Seq, ev.Time, ev.Bids, ev.Asks); err != nil {
			s.bookRefused(st, rec, ev, err)
			return
		}
		st.last = ev.Seq
		s.syncLive(st)
		p.pub.PublishBook(st.b, true)
	case schema.EventDelta:
		if !st.b.Live() {
			st.last = ev.Seq
			p.m.skipped.Add(ctx, 1, p.m.notLive...)
			return
		}
		if err := st.b.ApplyDelta(ev.Seq, ev.Time, ev.Bids, ev.Asks); err != nil {
			s.bookRefused(st, rec, ev, err)
			return
		}
		st.last = ev.Seq
		s.syncLive(st)
		p.pub.PublishBook(st.b, false)
	case schema.EventTrade:
		st.last = ev.Seq
		p.pub.PublishTrade(st.b, ev)
	}
}

// bookRefused reports an event the book refused. Past the level limit the book cannot follow its source
// any more: it goes stale until a snapshot within the limit.
func (s *shard) bookRefused(st *symState, rec *Record, ev *schema.Event, err error) {
	reason := schema.ReasonBook
	if errors.Is(err, book.ErrTooManyLevels) {
		reason = schema.ReasonTooManyLevels
		if st.b.Live() {
			st.b.MarkStale()
			s.syncLive(st)
			s.p.pub.PublishStatus(st.b)
		}
	}
	s.syncLive(st)
	s.p.reject(s.logContext(), *rec, ev.Symbol, reason, err)
}

// syncLive keeps the live-book count in step with the book.
func (s *shard) syncLive(st *symState) {
	live := st.b.Live()
	if live == st.live {
		return
	}
	st.live = live
	if live {
		s.p.nLive.Add(1)
	} else {
		s.p.nLive.Add(-1)
	}
}
