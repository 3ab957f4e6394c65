package sim

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/depthcast/depthcast/schema"
)

func TestWriterConfigValidate(t *testing.T) {
	good := WriterConfig{Brokers: []string{"localhost:9092"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []WriterConfig{
		{},
		{Brokers: []string{" "}},
		{Brokers: []string{"b:1"}, Rate: -1},
		{Brokers: []string{"b:1"}, Compression: "brotli"},
		{Brokers: []string{"b:1"}, Partitions: -1},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
		if err := Run(context.Background(), mustNew(t, Config{}), bad); err == nil {
			t.Errorf("Run(%+v): no error", bad)
		}
	}
	for _, c := range []string{"", "none", "gzip", "snappy", "lz4", "ZSTD"} {
		if _, err := compression(c); err != nil {
			t.Errorf("%q: %v", c, err)
		}
	}
}

func newCluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// readAll consumes n records of topic from the start.
func readAll(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(recs), n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		recs = append(recs, fs.Records()...)
	}
	t.Logf("read %d records in %v", n, time.Since(start))
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	return recs
}

// checkRecords checks that records land on their key's murmur2 partition and that, per symbol, they are
// exactly the events of a fresh exchange with the same config, in order.
func checkRecords(t *testing.T, cfg Config, recs []*kgo.Record, partitions int) {
	t.Helper()
	part := kgo.StickyKeyPartitioner(nil).ForTopic("md.events")
	perKey := map[string][][]byte{}
	keyPart := map[string]int32{}
	for _, r := range recs {
		if want := int32(part.Partition(r, partitions)); r.Partition != want {
			t.Fatalf("key %s on partition %d, murmur2 says %d", r.Key, r.Partition, want)
		}
		if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPart[string(r.Key)] = r.Partition
		if _, err := schema.DecodeEvent(r.Value); err != nil {
			t.Fatalf("%v: %s", err, r.Value)
		}
		perKey[string(r.Key)] = append(perKey[string(r.Key)], r.Value)
	}
	x := mustNew(t, cfg)
	want := map[string][][]byte{}
	for range recs {
		ev := x.Next()
		want[ev.Key] = append(want[ev.Key], ev.Value)
	}
	parts := map[int32]bool{}
	for k, vs := range want {
		parts[keyPart[k]] = true
		if len(perKey[k]) != len(vs) {
			t.Fatalf("%s: %d records, want %d", k, len(perKey[k]), len(vs))
		}
		for i := range vs {
			if !bytes.Equal(vs[i], perKey[k][i]) {
				t.Fatalf("%s record %d:\n got %s\nwant %s", k, i, perKey[k][i], vs[i])
			}
		}
	}
	if len(parts) < 2 {
		t.Errorf("all symbols on one partition: %v", keyPart)
	}
}

func TestRunKfake(t *testing.T) {
	brokers := newCluster(t, kfake.SeedTopics(3, "md.events"))
	cfg := Config{Seed: 4}
	x := mustNew(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := Run(ctx, x, WriterConfig{Brokers: brokers, Rate: DefaultRate, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	n := int(x.Count())
	t.Logf("wrote %d events in %v", n, el)
	if n < 1000 || float64(n) > DefaultRate*el.Seconds()*1.2+100 {
		t.Errorf("wrote %d events in %v at %d/s", n, el, DefaultRate)
	}
	checkRecords(t, cfg, readAll(t, brokers, "md.events", n), 3)
}

func TestRunCompressedMaxEvents(t *testing.T) {
	for _, c := range []string{"gzip", "snappy", "lz4", "zstd"} {
		t.Run(c, func(t *testing.T) {
			brokers := newCluster(t, kfake.SeedTopics(3, "md.events"))
			cfg := Config{Seed: 8, Symbols: 20}
			x := mustNew(t, cfg)
			start := time.Now()
			err := Run(context.Background(), x, WriterConfig{Brokers: brokers, Compression: c, MaxEvents: 5000, Logger: quiet})
			t.Logf("wrote in %v", time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			if x.Count() != 5000 {
				t.Fatalf("Count %d, want 5000", x.Count())
			}
			checkRecords(t, cfg, readAll(t, brokers, "md.events", 5000), 3)
		})
	}
}

func TestRunTopic(t *testing.T) {
	brokers := newCluster(t)
	x := mustNew(t, Config{})
	err := Run(context.Background(), x, WriterConfig{Brokers: brokers, Topic: "other", MaxEvents: 10, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing topic: %v", err)
	}
	if x.Count() != 0 {
		t.Errorf("%d events generated before failing", x.Count())
	}
	err = Run(context.Background(), x, WriterConfig{Brokers: brokers, Topic: "other", MaxEvents: 100, CreateTopic: true, Partitions: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, brokers, "other", 100)
	for _, r := range recs {
		if r.Partition > 1 {
			t.Fatalf("partition %d of a 2-partition topic", r.Partition)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	// Unlimited rate, cancelled while writing: returns nil promptly, and every event generated was written.
	brokers := newCluster(t, kfake.SeedTopics(3, "md.events"))
	x := mustNew(t, Config{Seed: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, x, WriterConfig{Brokers: brokers, Logger: quiet}) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		t.Logf("Run returned %v after cancel", time.Since(cancelled))
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	n := int(x.Count())
	t.Logf("cancelled after %d events", n)
	if n == 0 {
		t.Fatal("nothing written")
	}
	checkRecords(t, Config{Seed: 2}, readAll(t, brokers, "md.events", n), 3)
}

func TestRunUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, mustNew(t, Config{}), WriterConfig{Brokers: []string{"127.0.0.1:1"}, Logger: quiet})
	if err == nil {
		t.Fatal("no error for an unreachable broker")
	}
}
