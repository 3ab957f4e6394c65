package ingest

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/segmentio/kafka-go"
)

// A partition reader that knows the topic under another ID (the topic was deleted and created again while
// the reader could not read, and written past its position) reads the partition again from its earliest
// record as a restarted history, though its position is held; with the ID it knows, it reads on from its
// position; with no ID known yet, it takes the broker's.
func TestReaderTopicIDChanged(t *testing.T) {
	k := newTestCluster(t, 1)
	L := enginetest.L
	k.produce(t, enginetest.Snap("BTC-USD", 1, L("1:1"), L("9:1")), enginetest.Delta("BTC-USD", 2, L("2:1"), nil), enginetest.Delta("BTC-USD", 3, L("3:1"), nil))
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(k.addrs...), Transport: transport, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := topicID(ctx, client, testTopic, 0)
	if err != nil || id == [16]byte{} {
		t.Fatalf("topicID = %x, %v; want the topic's ID", id, err)
	}
	cfg := Config{Brokers: k.addrs, Topic: testTopic, Logger: slog.New(slog.DiscardHandler)}.WithDefaults()
	read := func(known [16]byte) (first int64, resets []bool, after [16]byte) {
		r := newPartitionReader(client, cfg, 0, 2)
		r.topicID = &known
		r.onReset = func(_ context.Context, restarted bool) error {
			resets = append(resets, restarted)
			return nil
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage: %v", err)
		}
		return m.Offset, resets, known
	}
	other := id
	other[0] ^= 0xff
	if first, resets, after := read(other); first != 0 || !slices.Equal(resets, []bool{true}) || after != id {
		t.Errorf("another ID known: first offset %d, resets %v, ID now %x; want 0, [true], %x", first, resets, after, id)
	}
	if first, resets, after := read(id); first != 2 || len(resets) != 0 || after != id {
		t.Errorf("the same ID known: first offset %d, resets %v, ID now %x; want 2, none, %x", first, resets, after, id)
	}
	if first, resets, after := read([16]byte{}); first != 2 || len(resets) != 0 || after != id {
		t.Errorf("no ID known: first offset %d, resets %v, ID now %x; want 2, none, %x", first, resets, after, id)
	}
}
