package kafkatopic

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseStart(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", kafka.FirstOffset, true},
		{Earliest, kafka.FirstOffset, true},
		{Latest, kafka.LastOffset, true},
		{"2026-11-24T10:00:00Z", at.UnixMilli(), true},
		{"2026-11-24T10:00:00.5+01:00", at.Add(-time.Hour + 500*time.Millisecond).UnixMilli(), true},
		{"yesterday", 0, false},
		{"2026-11-24", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseStart(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseStart(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrStart) {
			t.Errorf("ParseStart(%q): %v does not wrap ErrStart", tt.in, err)
		}
	}
}

// Against an in-process broker: three partitions, records at two times in partition 1.
func TestBounds(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, DefaultTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(DefaultTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range 4 {
		recs = append(recs, &kgo.Record{Partition: 1, Value: []byte("x"), Timestamp: t0.Add(time.Duration(i) * time.Minute)})
	}
	recs = append(recs, &kgo.Record{Partition: 2, Value: []byte("y"), Timestamp: t0})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...), Timeout: 5 * time.Second}

	ids, err := Partitions(ctx, client, DefaultTopic, nil)
	if err != nil || len(ids) != 3 || ids[0] != 0 || ids[2] != 2 {
		t.Fatalf("Partitions = %v, %v; want [0 1 2]", ids, err)
	}
	if ids, err := Partitions(ctx, client, DefaultTopic, []int{2, 1, 2}); err != nil || len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("Partitions(want 2,1,2) = %v, %v; want [1 2]", ids, err)
	}
	if _, err := Partitions(ctx, client, DefaultTopic, []int{7}); !errors.Is(err, ErrNoPartition) {
		t.Errorf("Partitions(want 7) = %v, want ErrNoPartition", err)
	}

	tests := []struct {
		name  string
		from  int64
		start map[int]int64
	}{
		{"earliest", kafka.FirstOffset, map[int]int64{0: 0, 1: 0, 2: 0}},
		{"latest", kafka.LastOffset, map[int]int64{0: 0, 1: 4, 2: 1}},
		// The first record at or after 10:02 in partition 1; nothing that recent elsewhere: their end.
		{"time", t0.Add(2 * time.Minute).UnixMilli(), map[int]int64{0: 0, 1: 2, 2: 1}},
	}
	for _, tt := range tests {
		b, err := ReadBounds(ctx, client, DefaultTopic, nil, tt.from, kafka.ReadUncommitted)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for id, want := range tt.start {
			if b.Start[id] != want {
				t.Errorf("%s: start of %d = %d, want %d", tt.name, id, b.Start[id], want)
			}
		}
		if b.End[1] != 4 || b.End[2] != 1 || b.End[0] != 0 || b.First[1] != 0 {
			t.Errorf("%s: first %v end %v", tt.name, b.First, b.End)
		}
	}
}
