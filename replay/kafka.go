package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// Defaults of KafkaConfig.
const (
	DefaultKafkaMaxBytes = 1 << 20
	DefaultKafkaTimeout  = 10 * time.Second
)

// KafkaConfig configures a Kafka source.
type KafkaConfig struct {
	// Brokers are the bootstrap addresses. Required.
	Brokers []string
	// Topic is the topic of upstream events. Default "md.events".
	Topic string
	// Partitions, when not empty, restricts the source to these partitions. Default: all.
	Partitions []int
	// Lookback: 0 (default) reads each partition from its earliest retained record, which rebuilds every
	// book a retained snapshot covers. A positive Lookback starts each partition at the offset of the
	// first record at or after from minus Lookback, which is faster but only exact when every symbol had a
	// snapshot within Lookback before from; a symbol without one stays stale until its next snapshot.
	Lookback time.Duration
	// MaxBytes bounds one fetch. Default 1 MiB.
	MaxBytes int
	// Timeout bounds one request to the brokers. Default 10 s.
	Timeout time.Duration
	// ClientID identifies the source to the brokers. Default "depthcast-replay".
	ClientID string
}

// Kafka is a Source over the Kafka topic itself, read by timestamp while it still holds the range: Range
// gives the times of the first and last retained records, Open reads every partition from the start (or
// from Lookback before from) up to its end at the time of Open, merging the partitions by record time, ties
// broken by partition. A symbol without a snapshot in what is read is stale until one comes, as live. It
// uses plain fetch requests, so a cursor runs no goroutine of its own; Close releases the connections.
type Kafka struct {
	cfg       KafkaConfig
	transport *kafka.Transport
	client    *kafka.Client
}

var _ Source = (*Kafka)(nil)

// NewKafka returns a Kafka source. Nothing is contacted before the first call.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("replay: kafka source without brokers")
	}
	if cfg.Lookback < 0 || cfg.MaxBytes < 0 || cfg.Timeout < 0 {
		return nil, errors.New("replay: negative lookback, size or timeout")
	}
	if cfg.Topic == "" {
		cfg.Topic = kafkatopic.DefaultTopic
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultKafkaMaxBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultKafkaTimeout
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "depthcast-replay"
	}
	t := &kafka.Transport{ClientID: cfg.ClientID, DialTimeout: 5 * time.Second}
	return &Kafka{cfg: cfg, transport: t, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t, Timeout: cfg.Timeout}}, nil
}

// Symbols lists none: which symbols the topic holds is left to the live feed, which reads the same topic
// (reading the whole topic to list them would cost as much as a replay). A History over the topic accepts
// the symbols the live feed knows.
func (k *Kafka) Symbols(context.Context) ([]string, error) { return nil, nil }

// Close releases the source's idle connections.
func (k *Kafka) Close() error {
	k.transport.CloseIdleConnections()
	return nil
}

// Range reports the times of the first and last records the topic retains (over the partitions).
func (k *Kafka) Range(ctx context.Context) (first, last time.Time, err error) {
	ids, starts, ends, err := k.bounds(ctx)
	if err != nil {
		return first, last, err
	}
	for _, id := range ids {
		if starts[id] >= ends[id] {
			continue
		}
		a, err := k.recordAt(ctx, id, starts[id])
		if err != nil {
			return first, last, err
		}
		b, err := k.recordAt(ctx, id, ends[id]-1)
		if err != nil {
			return first, last, err
		}
		if first.IsZero() || a.Time.Before(first) {
			first = a.Time
		}
		if b.Time.After(last) {
			last = b.Time
		}
	}
	if first.IsZero() {
		return first, last, ErrNothingRecorded
	}
	return first, last, nil
}

// Open returns a cursor over every partition from its earliest retained offset (or from Lookback before
// from) to its end as of now.
func (k *Kafka) Open(ctx context.Context, from time.Time) (Cursor, error) {
	ids, starts, ends, err := k.bounds(ctx)
	if err != nil {
		return nil, err
	}
	if k.cfg.Lookback > 0 && !from.IsZero() {
		at, err := k.offsets(ctx, ids, from.Add(-k.cfg.Lookback).UnixMilli())
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			switch o := at[id]; {
			case o < 0: // nothing that recent
				starts[id] = ends[id]
			case o > starts[id]:
				starts[id] = o
			}
		}
	}
	c := &kafkaCursor{k: k}
	for _, id := range ids {
		if starts[id] < ends[id] {
			c.parts = append(c.parts, &kafkaPart{id: id, next: starts[id], end: ends[id]})
		}
	}
	return c, nil
}

// bounds returns the partitions and their first and end offsets.
func (k *Kafka) bounds(ctx context.Context) (ids []int, starts, ends map[int]int64, err error) {
	b, err := kafkatopic.ReadBounds(ctx, k.client, k.cfg.Topic, k.cfg.Partitions, kafka.FirstOffset, kafka.ReadUncommitted)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("replay from kafka: %w", err)
	}
	return b.Partitions, b.First, b.End, nil
}

// offsets asks for one kind of offset (FirstOffset, LastOffset or a time in Unix milliseconds, -1 when no
// record is that recent) of every partition.
func (k *Kafka) offsets(ctx context.Context, ids []int, ts int64) (map[int]int64, error) {
	out, err := kafkatopic.ListOffsets(ctx, k.client, k.cfg.Topic, ids, ts, kafka.ReadUncommitted)
	if err != nil {
		return nil, fmt.Errorf("replay from kafka: %w", err)
	}
	return out, nil
}

// fetch returns the records of partition id from offset off on (at least one, unless the partition ends
// before off), up to MaxBytes.
func (k *Kafka) fetch(ctx context.Context, id int, off int64, dst []engine.Record) ([]engine.Record, error) {
	res, err := k.client.Fetch(ctx, &kafka.FetchRequest{Topic: k.cfg.Topic, Partition: id, Offset: off,
		MinBytes: 1, MaxBytes: int64(k.cfg.MaxBytes), MaxWait: 500 * time.Millisecond})
	if err != nil {
		return dst, fmt.Errorf("replay: kafka fetch %s/%d at %d: %w", k.cfg.Topic, id, off, err)
	}
	if res.Error != nil {
		return dst, fmt.Errorf("replay: kafka fetch %s/%d at %d: %w", k.cfg.Topic, id, off, res.Error)
	}
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("replay: kafka read %s/%d near %d: %w", k.cfg.Topic, id, off, err)
		}
		if r.Offset < off {
			continue // batches may start before the offset asked for
		}
		key, err := protocol.ReadAll(r.Key)
		if err != nil {
			return dst, err
		}
		val, err := protocol.ReadAll(r.Value)
		if err != nil {
			return dst, err
		}
		dst = append(dst, engine.Record{Partition: id, Offset: r.Offset, Time: r.Time, Key: key, Value: val})
	}
}

// recordAt returns the record at offset off of partition id.
func (k *Kafka) recordAt(ctx context.Context, id int, off int64) (engine.Record, error) {
	recs, err := k.fetch(ctx, id, off, nil)
	if err != nil {
		return engine.Record{}, err
	}
	if len(recs) == 0 || recs[0].Offset != off {
		return engine.Record{}, fmt.Errorf("replay: kafka %s/%d has no record at offset %d", k.cfg.Topic, id, off)
	}
	return recs[0], nil
}

type kafkaPart struct {
	id        int
	next, end int64
	buf       []engine.Record
}

// kafkaCursor merges the partitions by record time, ties broken by partition; each partition's records
// keep their order.
type kafkaCursor struct {
	k     *Kafka
	parts []*kafkaPart
}

func (c *kafkaCursor) Next(ctx context.Context) (engine.Record, error) {
	var best *kafkaPart
	for _, p := range c.parts {
		if len(p.buf) == 0 && p.next < p.end {
			recs, err := c.k.fetch(ctx, p.id, p.next, p.buf[:0])
			if err != nil {
				return engine.Record{}, err
			}
			if len(recs) == 0 {
				return engine.Record{}, fmt.Errorf("replay: kafka %s/%d returned nothing at offset %d before its end %d", c.k.cfg.Topic, p.id, p.next, p.end)
			}
			for len(recs) > 0 && recs[len(recs)-1].Offset >= p.end {
				recs = recs[:len(recs)-1]
			}
			p.buf = recs
			if len(recs) == 0 { // compacted away up to the end
				p.next = p.end
			}
		}
		if len(p.buf) == 0 {
			continue
		}
		if best == nil || p.buf[0].Time.Before(best.buf[0].Time) {
			best = p // parts are in partition order: a tie keeps the lower partition
		}
	}
	if best == nil {
		return engine.Record{}, io.EOF
	}
	rec := best.buf[0]
	best.buf = best.buf[1:]
	best.next = rec.Offset + 1
	if len(best.buf) == 0 {
		best.buf = nil
	}
	return rec, nil
}

func (c *kafkaCursor) Close() error { return nil }
