package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/replay"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const topic = "md.events"

// kafkaRecording writes the simulated exchange's records into three partitions of a kfake topic (by
// symbol), with record times of whole milliseconds, some shared across partitions, and returns them in the
// order the Kafka source must give: by time, ties by partition, each partition in offset order.
func kafkaRecording(t *testing.T, n int) ([]string, []engine.Record) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sims, _ := simRecords(t, n, 5)
	part := map[string]int32{}
	offs := map[int32]int64{}
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var krecs []*kgo.Record
	want := make([]engine.Record, n)
	for i, r := range sims {
		p, ok := part[string(r.Key)]
		if !ok {
			p = int32(len(part) % 3)
			part[string(r.Key)] = p
		}
		at := base.Add(time.Duration(i/4) * time.Millisecond) // four records per millisecond
		krecs = append(krecs, &kgo.Record{Key: r.Key, Value: r.Value, Partition: p, Timestamp: at})
		want[i] = engine.Record{Partition: int(p), Offset: offs[p], Time: at, Key: r.Key, Value: r.Value}
		offs[p]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, krecs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(want, func(a, b engine.Record) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	return c.ListenAddrs(), want
}

func readAll(t *testing.T, src replay.Source, from time.Time) []engine.Record {
	t.Helper()
	cur, err := src.Open(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	var out []engine.Record
	for {
		r, err := cur.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func recString(r engine.Record) string {
	return fmt.Sprintf("%d/%d %s %s %s", r.Partition, r.Offset, r.Time.UTC().Format(time.RFC3339Nano), r.Key, r.Value)
}

// The Kafka source gives the retained range and every record merged by time, ties by partition; with a
// lookback it starts near from; a player over it publishes what a player over the same records in memory
// publishes.
func TestKafkaSource(t *testing.T) {
	brokers, want := kafkaRecording(t, 3000)
	k, err := replay.NewKafka(replay.KafkaConfig{Brokers: brokers, Topic: topic, MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	first, last, err := k.Range(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(want[0].Time) || !last.Equal(want[len(want)-1].Time) {
		t.Fatalf("Range = %s..%s, want %s..%s", first, last, want[0].Time, want[len(want)-1].Time)
	}
	got := readAll(t, k, time.Time{})
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if recString(got[i]) != recString(want[i]) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, recString(got[i]), recString(want[i]))
		}
	}

	// With a lookback, each partition starts at its first record at or after from - lookback.
	from := want[2000].Time
	kl, _ := replay.NewKafka(replay.KafkaConfig{Brokers: brokers, Topic: topic, Lookback: 100 * time.Millisecond})
	defer kl.Close()
	part := readAll(t, kl, from)
	if len(part) == 0 || part[0].Time.Before(from.Add(-100*time.Millisecond)) || len(part) >= len(want) {
		t.Fatalf("with lookback: %d records from %v", len(part), part[0].Time)
	}
	if recString(part[len(part)-1]) != recString(want[len(want)-1]) {
		t.Fatal("with lookback: the last record differs")
	}

	// A player over Kafka and one over the same records in memory publish the same calls.
	mem, _ := replay.NewMemory(want)
	var logs [][]string
	for _, src := range []replay.Source{k, mem} {
		l := &log{}
		p := newPlayer(t, replay.PlayerConfig{Source: src, From: want[1500].Time, Publisher: l})
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l.Lines())
	}
	if !slices.Equal(logs[0], logs[1]) {
		t.Fatalf("players over Kafka and memory differ: %d and %d calls", len(logs[0]), len(logs[1]))
	}
	syms, err := replay.Symbols(context.Background(), k)
	if err != nil || len(syms) != 3 {
		t.Fatalf("Symbols = %v, %v", syms, err)
	}
}
