package ingest

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/ratelog"
	"github.com/depthcast/depthcast/schema"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Dead-letter record headers.
const (
	headerReason    = "depthcast-reason"
	headerError     = "depthcast-error"
	headerPartition = "depthcast-partition"
	headerOffset    = "depthcast-offset"
)

// deadLetter copies rejected records to a topic from its own goroutine. enqueue never blocks: past the
// buffer, records are dropped and counted, so a slow or absent dead-letter topic never slows ingestion.
type deadLetter struct {
	w       *kafka.Writer
	q       chan kafka.Message
	log     *slog.Logger
	logs    *ratelog.Limiter
	count   metric.Int64Counter
	written metric.AddOption
	dropped metric.AddOption
	failed  metric.AddOption
	wg      sync.WaitGroup
	once    sync.Once
}

func newDeadLetter(cfg Config, transport *kafka.Transport) (*deadLetter, error) {
	count, err := cfg.Meter.Int64Counter(metricDeadLetter,
		metric.WithDescription("Rejected records sent to the dead-letter topic, by result (written, dropped, failed)."),
		metric.WithUnit("{record}"))
	if err != nil {
		return nil, err
	}
	opt := func(r string) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))
	}
	d := &deadLetter{
		w: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.DeadLetterTopic,
			Transport:    transport,
			Balancer:     &kafka.Murmur2Balancer{},
			BatchTimeout: 10 * time.Millisecond,
			WriteTimeout: 10 * time.Second,
			RequiredAcks: kafka.RequireAll,
		},
		q:       make(chan kafka.Message, cfg.DeadLetterBuffer),
		log:     cfg.Logger,
		logs:    ratelog.New(1, 5),
		count:   count,
		written: opt("written"),
		dropped: opt("dropped"),
		failed:  opt("failed"),
	}
	for _, o := range []metric.AddOption{d.written, d.dropped, d.failed} {
		count.Add(context.Background(), 0, o) // each result there at 0 from the start
	}
	d.wg.Add(1)
	go d.run()
	return d, nil
}

// enqueue is an engine.Config.OnReject.
func (d *deadLetter) enqueue(rec engine.Record, reason schema.Reason, err error) {
	msg := kafka.Message{
		Key:   rec.Key,
		Value: rec.Value,
		Headers: []kafka.Header{
			{Key: headerReason, Value: []byte(reason)},
			{Key: headerError, Value: []byte(err.Error())},
			{Key: headerPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			{Key: headerOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		},
	}
	select {
	case d.q <- msg:
	default:
		d.count.Add(context.Background(), 1, d.dropped)
	}
}

func (d *deadLetter) run() {
	defer d.wg.Done()
	batch := make([]kafka.Message, 0, 100)
	for msg := range d.q {
		batch = append(batch[:0], msg)
	more:
		for len(batch) < cap(batch) {
			select {
			case m, ok := <-d.q:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := d.w.WriteMessages(ctx, batch...)
		cancel()
		if err != nil {
			d.count.Add(context.Background(), int64(len(batch)), d.failed)
			d.logs.Warn(d.log, "dead-letter write failed", slog.String("topic", d.w.Topic),
				slog.Int("records", len(batch)), slog.Any("error", err))
			continue
		}
		d.count.Add(context.Background(), int64(len(batch)), d.written)
	}
}

// close flushes what is queued and stops the writer. No enqueue may run during or after close.
func (d *deadLetter) close() {
	d.once.Do(func() {
		close(d.q)
		d.wg.Wait()
		if err := d.w.Close(); err != nil {
			d.log.Warn("closing the dead-letter writer", slog.Any("error", err))
		}
	})
}
