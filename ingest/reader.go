package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// Transactions upstream. A partition reader fetches with the read_committed isolation level: the broker
// serves records only up to the partition's last stable offset (LSO: below it every transaction has ended),
// and lists in each fetch response the aborted transactions (producer id, first offset) of the range it
// returns. kafka-go's Reader asks for read_committed when told to but drops that list and the producer ids
// of the batches, so the records of an aborted transaction would reach the books. A partition reader
// therefore sends kafka-go's Fetch request itself (through the kafka.Client, which routes it to the
// partition's leader) and applies the list as the protocol prescribes: a transactional batch of a listed
// producer, from the listed first offset up to that producer's abort marker, is dropped. Control markers
// are handed to the fetch loop, which skips and counts them (control.go), so the position moves past them.

// partitionReader reads one partition from an offset, committed records and control markers only, with the
// FetchMessage shape of a kafka-go reader. Only one goroutine uses it.
type partitionReader struct {
	client    *kafka.Client
	cfg       Config
	partition int
	next      int64           // offset of the next record to hand out
	buf       []kafka.Message // fetched and not yet handed out
	aborted   map[int64]bool  // producers inside an aborted transaction, until their abort marker
	// topicID, when set, is the topic's ID as the partition's readers know it (zero: not known yet, or the
	// broker does not tell); sent is when the last fetch was sent. See topicid.go.
	topicID *[16]byte
	sent    time.Time
	// onReset, when set, is called when the position is no longer held, before reading from the start:
	// restarted reports that the partition's offsets went backwards (its history started over).
	onReset func(ctx context.Context, restarted bool) error
}

// newPartitionReader reads partition part of cfg.Topic from offset, through client.
func newPartitionReader(client *kafka.Client, cfg Config, part int, offset int64) *partitionReader {
	return &partitionReader{client: client, cfg: cfg, partition: part, next: offset, aborted: map[int64]bool{}}
}

// errFetch wraps the broker's error code for a partition in a fetch response.
var errFetch = errors.New("fetch refused")

// FetchMessage returns the next record or control marker. Its HighWaterMark is the end of what the reader
// can be served: the LSO of the fetch it came in. It returns ctx's error when ctx ends first.
func (r *partitionReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	for len(r.buf) == 0 {
		if err := ctx.Err(); err != nil {
			return kafka.Message{}, err
		}
		if err := r.fetch(ctx); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return kafka.Message{}, cerr
			}
			return kafka.Message{}, err
		}
	}
	m := r.buf[0]
	r.buf[0] = kafka.Message{}
	r.buf = r.buf[1:]
	return m, nil
}

// lateFetch is how long past MaxWait a fetch may follow the previous one before the reader checks that
// the topic is still the one it was reading (topicid.go): the time it could have been re-created unseen.
const lateFetch = 2 * time.Second

// fetch sends one Fetch request and appends what it returns to r.buf.
func (r *partitionReader) fetch(ctx context.Context) error {
	now := time.Now()
	if r.topicID != nil && (r.sent.IsZero() || now.Sub(r.sent) > r.cfg.MaxWait+lateFetch) {
		if err := r.checkTopic(ctx); err != nil {
			return err
		}
	}
	r.sent = now
	req := &fetch.Request{
		ReplicaID:      -1,
		MaxWaitTime:    int32(r.cfg.MaxWait.Milliseconds()),
		MinBytes:       int32(r.cfg.MinBytes),
		MaxBytes:       int32(r.cfg.MaxBytes),
		IsolationLevel: int8(kafka.ReadCommitted),
		SessionEpoch:   -1,
		Topics: []fetch.RequestTopic{{Topic: r.cfg.Topic, Partitions: []fetch.RequestPartition{{
			Partition: int32(r.partition), CurrentLeaderEpoch: -1, FetchOffset: r.next, LogStartOffset: -1,
			PartitionMaxBytes: int32(r.cfg.MaxBytes),
		}}}},
	}
	// The broker holds the request up to MaxWait: give the round trip that long and more.
	rctx, cancel := context.WithTimeout(ctx, r.cfg.MaxWait+10*time.Second)
	defer cancel()
	msg, err := r.client.Transport.RoundTrip(rctx, r.client.Addr, req)
	if err != nil {
		return fmt.Errorf("fetch %s/%d at %d: %w", r.cfg.Topic, r.partition, r.next, err)
	}
	res, ok := msg.(*fetch.Response)
	if !ok {
		return fmt.Errorf("fetch %s/%d: unexpected response %T", r.cfg.Topic, r.partition, msg)
	}
	if res.ErrorCode != 0 {
		return fmt.Errorf("fetch %s/%d: %w: %w", r.cfg.Topic, r.partition, errFetch, kafka.Error(res.ErrorCode))
	}
	for _, t := range res.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if t.Topic != r.cfg.Topic || int(p.Partition) != r.partition {
				continue
			}
			if kafka.Error(p.ErrorCode) == kafka.OffsetOutOfRange {
				return r.reset(ctx)
			}
			if p.ErrorCode != 0 {
				return fmt.Errorf("fetch %s/%d at %d: %w: %w", r.cfg.Topic, r.partition, r.next, errFetch, kafka.Error(p.ErrorCode))
			}
			return r.take(p)
		}
	}
	return nil
}

// reset handles a position the partition no longer holds (records deleted below it by retention or
// DeleteRecords, or a topic deleted and created again, whose offsets start over): the reader goes on from
// the partition's earliest retained record, as Kafka consumers do with auto.offset.reset=earliest. What was
// skipped is a jump in each symbol's seq, so the books concerned turn stale until their next snapshot.
func (r *partitionReader) reset(ctx context.Context) error {
	ids := []int{r.partition}
	firsts, err := kafkatopic.ListOffsets(ctx, r.client, r.cfg.Topic, ids, kafka.FirstOffset, kafka.ReadUncommitted)
	var lasts map[int]int64
	if err == nil {
		lasts, err = kafkatopic.ListOffsets(ctx, r.client, r.cfg.Topic, ids, kafka.LastOffset, kafka.ReadUncommitted)
	}
	if err != nil {
		return fmt.Errorf("fetch %s/%d at %d: offset out of range, and %w", r.cfg.Topic, r.partition, r.next, err)
	}
	first, last := firsts[r.partition], lasts[r.partition]
	// Past the end: the partition's offsets went backwards, so its history started over (a topic deleted
	// and created again) and its seqs may have too. Below the start: records were deleted unread.
	restarted := r.next > last
	r.cfg.Logger.Warn("partition position no longer held: reading from its earliest record; its books are stale until their next snapshot",
		slog.String("topic", r.cfg.Topic), slog.Int("partition", r.partition), slog.Int64("position", r.next),
		slog.Int64("earliest", first), slog.Int64("end", last), slog.Bool("history_restarted", restarted))
	return r.fromStart(ctx, first, restarted)
}

// checkTopic asks for the topic's ID: a new ID is a topic deleted and created again, whose history started
// over, even where its offsets already reach the reader's position.
func (r *partitionReader) checkTopic(ctx context.Context) error {
	id, err := topicID(ctx, r.client, r.cfg.Topic, r.partition)
	if err != nil {
		return fmt.Errorf("fetch %s/%d at %d: topic id: %w", r.cfg.Topic, r.partition, r.next, err)
	}
	known := *r.topicID
	switch {
	case id == [16]byte{} || id == known:
		return nil
	case known == [16]byte{}:
		*r.topicID = id
		return nil
	}
	firsts, err := kafkatopic.ListOffsets(ctx, r.client, r.cfg.Topic, []int{r.partition}, kafka.FirstOffset, kafka.ReadUncommitted)
	if err != nil {
		return fmt.Errorf("fetch %s/%d at %d: topic re-created, and %w", r.cfg.Topic, r.partition, r.next, err)
	}
	r.cfg.Logger.Warn("topic re-created (its ID changed): reading the partition from its earliest record; its books are stale until their next snapshot",
		slog.String("topic", r.cfg.Topic), slog.Int("partition", r.partition), slog.Int64("position", r.next),
		slog.Int64("earliest", firsts[r.partition]))
	if err := r.fromStart(ctx, firsts[r.partition], true); err != nil {
		return err
	}
	*r.topicID = id
	return nil
}

// fromStart moves the reader to first, the partition's earliest record, after its position was lost;
// restarted says the partition's history started over (its books forget their seqs).
func (r *partitionReader) fromStart(ctx context.Context, first int64, restarted bool) error {
	if r.onReset != nil {
		if err := r.onReset(ctx, restarted); err != nil {
			return err
		}
	}
	r.next = first
	r.aborted = map[int64]bool{}
	return nil
}

// take turns one partition's fetched batches into messages, dropping aborted transactions.
func (r *partitionReader) take(p *fetch.ResponsePartition) error {
	end := p.LastStableOffset
	if end < 0 || p.HighWatermark < end {
		end = p.HighWatermark
	}
	if p.RecordSet.Records == nil {
		return nil
	}
	aborted := slices.Clone(p.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b fetch.ResponseTransaction) int { return int(a.FirstOffset - b.FirstOffset) })
	var batches []protocol.RecordReader
	if s, ok := p.RecordSet.Records.(*protocol.RecordStream); ok {
		batches = s.Records
	} else {
		batches = []protocol.RecordReader{p.RecordSet.Records}
	}
	var recs []kafka.Message
	for _, b := range batches {
		recs = recs[:0]
		var err error
		if recs, err = readBatch(b, recs, r.cfg.Topic, r.partition); err != nil {
			return fmt.Errorf("fetch %s/%d: %w", r.cfg.Topic, r.partition, err)
		}
		if len(recs) == 0 {
			continue
		}
		last := recs[len(recs)-1].Offset
		for len(aborted) > 0 && aborted[0].FirstOffset <= last {
			r.aborted[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		switch b := b.(type) {
		case *protocol.ControlBatch:
			for i := range recs {
				if isControlRecord(&recs[i]) && recs[i].Key[3] == 0 { // an abort marker ends the producer's abort
					delete(r.aborted, b.ProducerID)
				}
			}
		case *protocol.RecordBatch:
			if b.Attributes.Transactional() && r.aborted[b.ProducerID] {
				r.skip(last)
				continue
			}
		}
		for i := range recs {
			if recs[i].Offset < r.next {
				continue // a batch may start before the offset asked for
			}
			recs[i].HighWaterMark = max(end, recs[i].Offset+1)
			r.buf = append(r.buf, recs[i])
			r.next = recs[i].Offset + 1
		}
	}
	return nil
}

// skip moves the reader past an aborted batch ending at last. When nothing else is buffered, the fetch loop
// still sees the position move at the next record (or the abort marker after it).
func (r *partitionReader) skip(last int64) {
	if last >= r.next {
		r.next = last + 1
	}
}

// readBatch appends the records of one batch to recs, as kafka-go messages.
func readBatch(b protocol.RecordReader, recs []kafka.Message, topic string, part int) ([]kafka.Message, error) {
	for {
		rec, err := b.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return recs, nil
			}
			return recs, fmt.Errorf("read record: %w", err)
		}
		m := kafka.Message{Topic: topic, Partition: part, Offset: rec.Offset, Time: rec.Time}
		if rec.Time.UnixMilli() <= 0 { // no timestamp (-1), or one that is not a time: as kafka-go's Reader
			m.Time = time.Time{}
		}
		if m.Key, err = readBytes(rec.Key); err == nil {
			m.Value, err = readBytes(rec.Value)
		}
		if err != nil {
			return recs, fmt.Errorf("read record at %d: %w", rec.Offset, err)
		}
		recs = append(recs, m)
	}
}

func readBytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return io.ReadAll(b)
}

// Close releases the reader. The client and its connections belong to the consumer.
func (r *partitionReader) Close() error {
	r.buf = nil
	return nil
}
