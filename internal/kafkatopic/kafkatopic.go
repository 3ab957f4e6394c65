// Package kafkatopic reads what a reader of a Kafka topic needs to know before it reads: the topic's
// partitions and the offsets that bound them. The Kafka consumer, the replay source over the topic and the
// recorder that stops at a time all start from it.
//
// Its functions make requests through the kafka.Client they are given and keep no state: they are safe for
// concurrent use.
package kafkatopic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// DefaultTopic is the topic of upstream events when none is named: what producers write and every reader
// of the stream reads by default.
const DefaultTopic = "md.events"

// Start positions: where reading begins in every partition, besides an RFC 3339 time.
const (
	Earliest = "earliest"
	Latest   = "latest"
)

// ErrStart is wrapped by ParseStart's errors.
var ErrStart = errors.New("bad start position")

// ParseStart turns a start position (Earliest, Latest or an RFC 3339 time; empty is Earliest) into the
// timestamp of a ListOffsets request: kafka.FirstOffset, kafka.LastOffset, or a time in Unix milliseconds.
func ParseStart(s string) (int64, error) {
	switch s {
	case "", Earliest:
		return kafka.FirstOffset, nil
	case Latest:
		return kafka.LastOffset, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not earliest, latest or an RFC 3339 time", ErrStart, s)
	}
	return t.UnixMilli(), nil
}

// ErrNoPartition is wrapped by Partitions' error for a partition asked for that the topic does not have.
var ErrNoPartition = errors.New("no such partition")

// Partitions lists the partition ids of topic, sorted: all of them, or want (deduplicated) when it is not
// empty, which must all exist.
func Partitions(ctx context.Context, client *kafka.Client, topic string, want []int) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	var ids []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	slices.Sort(ids)
	if len(want) == 0 {
		return ids, nil
	}
	w := slices.Clone(want)
	slices.Sort(w)
	w = slices.Compact(w)
	for _, p := range w {
		if _, ok := slices.BinarySearch(ids, p); !ok {
			return nil, fmt.Errorf("%w: topic %s has no partition %d (it has %d)", ErrNoPartition, topic, p, len(ids))
		}
	}
	return w, nil
}

// ListOffsets asks for one kind of offset of the given partitions of topic in one request (Kafka refuses a
// partition repeated within a request): ts is kafka.FirstOffset, kafka.LastOffset, or a time in Unix
// milliseconds, for which the answer is the first offset whose record time is at or after it (-1 when no
// record is that recent). Read committed, kafka.LastOffset is the last stable offset: the end of what a
// read_committed fetch is served (no transaction is open below it). Every partition asked for is in the
// result, or it is an error.
func ListOffsets(ctx context.Context, client *kafka.Client, topic string, ids []int, ts int64, iso kafka.IsolationLevel) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.OffsetRequest{Partition: id, Timestamp: ts}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}, IsolationLevel: iso})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(ids))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		switch ts {
		case kafka.FirstOffset:
			out[po.Partition] = po.FirstOffset
		case kafka.LastOffset:
			out[po.Partition] = po.LastOffset
		default:
			out[po.Partition] = -1
			for off := range po.Offsets {
				out[po.Partition] = off
			}
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("list offsets of %s: no answer for partition %d", topic, id)
		}
	}
	return out, nil
}

// Bounds bound a reader's work in each partition of a topic, as read at one moment.
type Bounds struct {
	// Partitions are the partition ids, sorted.
	Partitions []int
	// First is each partition's first retained offset.
	First map[int]int64
	// Start is where a reader starts in each partition (see ReadBounds).
	Start map[int]int64
	// End is each partition's end: its high watermark, or read committed its last stable offset.
	End map[int]int64
}

// ReadBounds reads the bounds of topic's partitions (all of them, or want; see Partitions) for a reader
// that starts at from (see ParseStart): the first retained offset, the end now, or the first record at or
// after a time, where a partition with nothing that recent starts at its end.
func ReadBounds(ctx context.Context, client *kafka.Client, topic string, want []int, from int64, iso kafka.IsolationLevel) (Bounds, error) {
	ids, err := Partitions(ctx, client, topic, want)
	if err != nil {
		return Bounds{}, err
	}
	b := Bounds{Partitions: ids}
	if b.First, err = ListOffsets(ctx, client, topic, ids, kafka.FirstOffset, iso); err != nil {
		return Bounds{}, err
	}
	if b.End, err = ListOffsets(ctx, client, topic, ids, kafka.LastOffset, iso); err != nil {
		return Bounds{}, err
	}
	switch from {
	case kafka.FirstOffset:
		b.Start = b.First
	case kafka.LastOffset:
		b.Start = b.End
	default:
		if b.Start, err = ListOffsets(ctx, client, topic, ids, from, iso); err != nil {
			return Bounds{}, err
		}
		for id, off := range b.Start {
			if off < 0 { // nothing at or after the time: reading starts at the end
				b.Start[id] = b.End[id]
			}
		}
	}
	return b, nil
}
