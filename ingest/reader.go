package ingest

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions upstream. A partition reader reads with the read_committed isolation level: the broker
// serves records only up to the partition's last stable offset (LSO: below it every transaction has ended),
// and answers each fetch with the list of aborted transactions (producer id, first offset) in the range it
// returns. kafka-go asks for read_committed when told to but drops that list, so the records of an aborted
// transaction would reach the books. A partition reader is therefore a franz-go client consuming that one
// partition (no group, nothing committed), which applies the aborted-transaction list as the protocol
// prescribes (KIP-98: a transactional batch of a listed producer at or after the listed offset, up to that
// producer's abort marker, is dropped). Control markers are kept and handed to the fetch loop, which skips
// them (control.go), so the reader's position moves past them to the LSO.

// partitionReader reads one partition from an offset, committed records and control markers only, with the
// FetchMessage shape of a kafka-go reader. Only one goroutine uses it.
type partitionReader struct {
	cl    *kgo.Client
	topic string
	buf   []kafka.Message
}

// newPartitionReader starts reading partition part of cfg.Topic at offset.
func newPartitionReader(cfg Config, part int, offset int64) (*partitionReader, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {int32(part): kgo.NewOffset().At(offset)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMinBytes(int32(cfg.MinBytes)),
		kgo.FetchMaxBytes(int32(cfg.MaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.MaxBytes)),
		kgo.FetchMaxWait(cfg.MaxWait),
		kgo.DisableFetchSessions(),
	)
	if err != nil {
		return nil, fmt.Errorf("partition reader %s/%d: %w", cfg.Topic, part, err)
	}
	return &partitionReader{cl: cl, topic: cfg.Topic}, nil
}

// controlKey and controlValue stand for a control marker kgo marked as one (RecordAttrs.IsControl) whatever
// its bytes, so that isControlRecord skips it.
var (
	controlKey   = []byte{0, 0, 0, 1}
	controlValue = []byte{0, 0, 0, 0, 0, 0}
)

// FetchMessage returns the next record or control marker. Its HighWaterMark is the end of what the reader
// can be served: the LSO of the fetch it came in. It returns ctx's error when ctx ends first.
func (r *partitionReader) FetchMessage(ctx context.Context) (kafka.Message, error) {
	for len(r.buf) == 0 {
		fs := r.cl.PollFetches(ctx)
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", r.topic, p, err)
			}
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			end := p.LastStableOffset
			if end < 0 || p.HighWatermark < end {
				end = p.HighWatermark
			}
			for _, rec := range p.Records {
				m := kafka.Message{Topic: rec.Topic, Partition: int(rec.Partition), Offset: rec.Offset,
					Time: rec.Timestamp, Key: rec.Key, Value: rec.Value, HighWaterMark: max(end, rec.Offset+1)}
				if rec.Attrs.IsControl() && !isControlRecord(&m) {
					m.Key, m.Value = controlKey, controlValue
				}
				r.buf = append(r.buf, m)
			}
		})
		if len(r.buf) > 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return kafka.Message{}, err
		}
		if ferr != nil {
			return kafka.Message{}, ferr
		}
	}
	m := r.buf[0]
	r.buf[0] = kafka.Message{}
	r.buf = r.buf[1:]
	return m, nil
}

// Close stops the reader.
func (r *partitionReader) Close() error {
	r.cl.Close()
	return nil
}
