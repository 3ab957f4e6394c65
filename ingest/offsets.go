package ingest

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// ListOffsets asks for one kind of offset of the given partitions of topic in one request (Kafka refuses
// a partition repeated within a request): ts is kafka.FirstOffset, kafka.LastOffset, or a time in Unix
// milliseconds, for which the answer is the first offset whose record time is at or after it (-1 when no
// record is that recent). Every partition asked for is in the result, or it is an error.
func ListOffsets(ctx context.Context, client *kafka.Client, topic string, ids []int, ts int64) (map[int]int64, error) {
	return listOffsetsIso(ctx, client, topic, ids, ts, kafka.ReadUncommitted)
}

// listOffsetsIso is ListOffsets at an isolation level: read committed, kafka.LastOffset is the last stable
// offset (the end of what a read_committed fetch is served: no transaction is open below it).
func listOffsetsIso(ctx context.Context, client *kafka.Client, topic string, ids []int, ts int64, iso kafka.IsolationLevel) (map[int]int64, error) {
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
