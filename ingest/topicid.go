package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic IDs. A topic deleted and created again under the same name is a new topic with a new ID (Kafka 2.8
// and later, KIP-516), and its offsets start over. A partition reader whose position the new topic does not
// hold finds out from the offsets (partitionReader.reset). One whose position the new topic already holds,
// because it was written past it while the reader could not read (a process paused, a broker out of reach),
// would read the new topic's records as if they followed the old ones. So a partition reader asks the
// partition's leader for the topic's ID before its first fetch, and before a fetch that comes late after the
// previous one (partitionReader.fetch), and treats a changed ID as a restarted history.
//
// kafka-go speaks Metadata only up to v8, which carries no topic IDs: the request goes over a kafka-go
// connection as a raw exchange (ApiVersions, then Metadata v10 or later), encoded with franz-go's kmsg.

// topicID returns the ID of topic as the leader of partition part knows it, or the zero ID when the
// broker does not tell (older than Kafka 2.8, or a Kafka-compatible service without topic IDs).
func topicID(ctx context.Context, client *kafka.Client, topic string, part int) ([16]byte, error) {
	res, err := client.Transport.RoundTrip(ctx, client.Addr, &topicIDRequest{topic: topic, partition: int32(part)})
	if err != nil {
		return [16]byte{}, err
	}
	r, ok := res.(*topicIDResponse)
	if !ok {
		return [16]byte{}, fmt.Errorf("topic id of %s: unexpected response %T", topic, res)
	}
	return r.id, r.err
}

// topicIDRequest asks for one topic's ID (see topicID). It goes to the partition's leader.
type topicIDRequest struct {
	topic     string
	partition int32
}

type topicIDResponse struct {
	id  [16]byte
	err error // the broker's error for the topic
}

func (*topicIDRequest) ApiKey() protocol.ApiKey  { return protocol.Metadata }
func (*topicIDResponse) ApiKey() protocol.ApiKey { return protocol.Metadata }

func (*topicIDRequest) Required(map[protocol.ApiKey]int16) bool { return true }

// Broker routes the request to the partition's leader, as a fetch of the partition is.
func (r *topicIDRequest) Broker(cluster protocol.Cluster) (protocol.Broker, error) {
	t, ok := cluster.Topics[r.topic]
	if !ok {
		return protocol.Broker{ID: -1}, protocol.NewErrNoTopic(r.topic)
	}
	p, ok := t.Partitions[r.partition]
	if !ok {
		return protocol.Broker{ID: -1}, protocol.NewErrNoPartition(r.topic, r.partition)
	}
	b, ok := cluster.Brokers[p.Leader]
	if !ok {
		return protocol.Broker{ID: -1}, protocol.NewErrNoLeader(r.topic, r.partition)
	}
	return b, nil
}

// RawExchange asks the broker which Metadata versions it speaks, then for the topic's metadata in the
// newest one up to v12, which carries its ID.
func (r *topicIDRequest) RawExchange(rw io.ReadWriter) (protocol.Message, error) {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("depthcast"))
	av := kmsg.NewPtrApiVersionsRequest() // v0: every broker answers it
	avr := kmsg.NewPtrApiVersionsResponse()
	if err := exchange(rw, f, av, avr, 1); err != nil {
		return nil, err
	}
	if avr.ErrorCode != 0 {
		return nil, fmt.Errorf("api versions: %w", kafka.Error(avr.ErrorCode))
	}
	v := int16(-1)
	for _, k := range avr.ApiKeys {
		if k.ApiKey == int16(protocol.Metadata) {
			v = min(k.MaxVersion, 12)
		}
	}
	if v < 10 { // no topic IDs in Metadata before v10
		return &topicIDResponse{}, nil
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = v
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(r.topic)
	md.Topics = append(md.Topics, rt)
	mdr := kmsg.NewPtrMetadataResponse()
	mdr.Version = v
	if err := exchange(rw, f, md, mdr, 2); err != nil {
		return nil, err
	}
	for _, t := range mdr.Topics {
		if t.Topic != nil && *t.Topic == r.topic {
			if t.ErrorCode != 0 {
				return &topicIDResponse{err: fmt.Errorf("topic %s: %w", r.topic, kafka.Error(t.ErrorCode))}, nil
			}
			return &topicIDResponse{id: t.TopicID}, nil
		}
	}
	return &topicIDResponse{err: fmt.Errorf("topic %s: not in the broker's answer", r.topic)}, nil
}

// exchange writes req and reads its response into resp (whose Version is set).
func exchange(rw io.ReadWriter, f *kmsg.RequestFormatter, req kmsg.Request, resp kmsg.Response, correlation int32) error {
	if _, err := rw.Write(f.AppendRequest(nil, req, correlation)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(rw, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<24 {
		return fmt.Errorf("response of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(rw, buf); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != correlation {
		return fmt.Errorf("response to request %d, want %d", got, correlation)
	}
	body := buf[4:]
	// A flexible response header ends in tagged fields (ApiVersions keeps the old header).
	if resp.IsFlexible() && resp.Key() != int16(protocol.ApiVersions) {
		var err error
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	return resp.ReadFrom(body)
}

var errShortHeader = errors.New("short response header")

// skipTags skips the tagged fields at the start of b.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errShortHeader
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 { // tag
			return nil, errShortHeader
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < size {
			return nil, errShortHeader
		}
		b = b[n+int(size):]
	}
	return b, nil
}
