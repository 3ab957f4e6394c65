package ingest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

const testTopic = "md.events"

// testCluster is an in-process kfake broker and a franz-go producer client.
type testCluster struct {
	c     *kfake.Cluster
	addrs []string
	cl    *kgo.Client
}

func newTestCluster(t *testing.T, partitions int32, opts ...kgo.Opt) *testCluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, testTopic, "md.dead"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.DefaultProduceTopic(testTopic),
		kgo.MaxVersions(kversion.V2_8_0()), // Fetch by topic name for rawBatchCodecs
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &testCluster{c: c, addrs: c.ListenAddrs(), cl: cl}
}

// symbolOf returns the symbol of an event JSON, or "BTC-USD" when it has none.
func symbolOf(v string) string {
	var e struct{ Symbol string }
	if json.Unmarshal([]byte(v), &e) != nil || e.Symbol == "" {
		return "BTC-USD"
	}
	return e.Symbol
}

// produce writes the values with key = symbol, in order, and waits for the acks.
func (k *testCluster) produce(t *testing.T, values ...string) {
	t.Helper()
	k.produceAt(t, time.Time{}, values...)
}

func (k *testCluster) produceAt(t *testing.T, ts time.Time, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: []byte(symbolOf(v)), Value: []byte(v), Timestamp: ts}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// rawBatchCodecs fetches every partition of the topic raw and returns the compression codec of each record
// batch stored (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (k *testCluster) rawBatchCodecs(t *testing.T, partitions int32) []int {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 100
	req.MaxBytes = 10 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = testTopic
	for p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 10 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), k.cl)
	if err != nil {
		t.Fatal(err)
	}
	var codecs []int
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			b := rp.RecordBatches
			for len(b) >= 12 {
				n := 12 + int(binary.BigEndian.Uint32(b[8:12]))
				if n > len(b) {
					break
				}
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(b[:n]); err != nil {
					t.Fatal(err)
				}
				codecs = append(codecs, int(batch.Attributes&7))
				b = b[n:]
			}
		}
	}
	return codecs
}

// runConsumer starts c.Run and returns a stop function that cancels it and checks that it returns nil
// promptly. stop also runs at cleanup.
func runConsumer(t *testing.T, c *Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			start := time.Now()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("Run took %v to return after cancel", d)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newTestConsumer(t *testing.T, k *testCluster, cfg Config, pub engine.Publisher) *Consumer {
	t.Helper()
	cfg.Brokers = k.addrs
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	c, err := New(cfg, pub)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitBook waits until the symbol's book, as read through Do, is want.
func waitBook(t *testing.T, c *Consumer, sym, want string) {
	t.Helper()
	var got string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if got = enginetest.BookOf(c.Do, sym); got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: book %q, want %q", sym, got, want)
}

func TestKafkaBooksAndRules(t *testing.T) {
	k := newTestCluster(t, 3)
	m := testkit.NewMetrics()
	rec := &enginetest.Recorder{}
	c := newTestConsumer(t, k, Config{Meter: m.Provider.Meter("t"), Books: engine.Config{Shards: 2}}, rec)
	if c.Ready() {
		t.Error("Ready before Run")
	}
	if err := c.Do(context.Background(), "BTC-USD", func(*book.Book) {}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Do before Run = %v, want engine.ErrClosed", err)
	}
	stop := runConsumer(t, c)

	k.produce(t,
		// BTC-USD: snapshot, deltas, a redelivered delta
		enginetest.Snap("BTC-USD", 100, enginetest.L("43000.1:2", "42999:1"), enginetest.L("43000.2:1.5")),
		enginetest.Delta("BTC-USD", 101, enginetest.L("43000.1:0"), enginetest.L("43000.3:4")),
		enginetest.Delta("BTC-USD", 101, enginetest.L("43000.1:0"), enginetest.L("43000.3:4")),
		enginetest.Trade("BTC-USD", 102, "43000.2", "0.5"),
		enginetest.Delta("BTC-USD", 103, enginetest.L("42999:2.5"), nil),
		// ETH-USD: a gap makes it stale, the next snapshot live again
		enginetest.Snap("ETH-USD", 1, enginetest.L("2000:1"), enginetest.L("2001:1")),
		enginetest.Delta("ETH-USD", 3, enginetest.L("2000:5"), nil),
		enginetest.Snap("ETH-USD", 4, enginetest.L("2000:7"), enginetest.L("2001:7")),
		enginetest.Delta("ETH-USD", 5, nil, enginetest.L("2001:6")),
		// malformed records
		`{"type":"delta","symbol":"SOL-USD",`,
		`{"type":"quote","symbol":"SOL-USD","seq":1,"time":"`+enginetest.EvTime+`"}`,
		enginetest.Delta("SOL-USD", 1, enginetest.L("-5:1"), nil),
		enginetest.Snap("SOL-USD", 1, enginetest.L("12:1"), enginetest.L("11:1")),
		`{"type":"snapshot","seq":1,"time":"`+enginetest.EvTime+`","bids":[["1","1"]],"asks":[["2","1"]]}`,
		``,
		// SOL-USD's first valid event
		enginetest.Snap("SOL-USD", 2, enginetest.L("10:1"), enginetest.L("11:1")),
	)
	waitBook(t, c, "BTC-USD", "live=true seq=103 42999:2.5|43000.2:1.5,43000.3:4")
	waitBook(t, c, "ETH-USD", "live=true seq=5 2000:7|2001:6")
	waitBook(t, c, "SOL-USD", "live=true seq=2 10:1|11:1")
	testkit.WaitFor(t, 5*time.Second, "Ready", c.Ready)

	testkit.EqualLines(t, "BTC-USD calls", rec.For("BTC-USD"), []string{
		"status BTC-USD live=false",
		"snapshot BTC-USD 100 43000.1:2,42999:1|43000.2:1.5",
		"update BTC-USD 101 42999:1|43000.2:1.5,43000.3:4",
		"trade BTC-USD 102 0.5@43000.2 live=true",
		"update BTC-USD 103 42999:2.5|43000.2:1.5,43000.3:4",
	})
	testkit.EqualLines(t, "ETH-USD calls", rec.For("ETH-USD"), []string{
		"status ETH-USD live=false",
		"snapshot ETH-USD 1 2000:1|2001:1",
		"status ETH-USD live=false",
		"snapshot ETH-USD 4 2000:7|2001:7",
		"update ETH-USD 5 2000:7|2001:6",
	})
	testkit.EqualLines(t, "SOL-USD calls", rec.For("SOL-USD"), []string{
		"status SOL-USD live=false",
		"snapshot SOL-USD 2 10:1|11:1",
	})
	for _, tt := range []struct {
		name string
		attr string
		want int64
	}{
		{engine.MetricRejected, "reason=bad_json", 2},
		{engine.MetricRejected, "reason=bad_type", 1},
		{engine.MetricRejected, "reason=bad_price", 1},
		{engine.MetricRejected, "reason=crossed", 1},
		{engine.MetricRejected, "reason=bad_symbol", 1},
		{engine.MetricSkipped, "reason=duplicate", 1},
		{engine.MetricSkipped, "reason=not_live", 1},
		{engine.MetricGaps, "", 1},
		{engine.MetricEvents, "type=snapshot", 4},
		{engine.MetricSymbols, "", 3},
		{engine.MetricStaleBooks, "", 0},
		{metricPartitionOffset, "", 16}, // every partition read from 0 to its end
		{metricPartitionLag, "", 0},
	} {
		var attrs []string
		if tt.attr != "" {
			attrs = []string{tt.attr}
		}
		if got := m.Value(t, tt.name, attrs...); got != tt.want {
			t.Errorf("%s{%s} = %d, want %d", tt.name, tt.attr, got, tt.want)
		}
	}
	stop()
	if err := c.Do(context.Background(), "BTC-USD", func(*book.Book) {}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Do after Run = %v, want engine.ErrClosed", err)
	}
	if got := m.Value(t, metricPartitionLag); got != -1 {
		t.Errorf("lag gauge still reported after Run returned: %d", got)
	}
}

func TestKafkaCompressedBatches(t *testing.T) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		id    int
	}{
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			k := newTestCluster(t, 1, kgo.ProducerBatchCompression(cc.codec), kgo.ProducerLinger(20*time.Millisecond))
			vals := []string{enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("200:1"))}
			for i := uint64(2); i <= 200; i++ {
				vals = append(vals, enginetest.Delta("BTC-USD", i, enginetest.L(fmt.Sprintf("%d:%d", 100-i%50, i)), nil))
			}
			k.produce(t, vals...)
			got := k.rawBatchCodecs(t, 1)
			if len(got) == 0 {
				t.Fatal("no batches stored")
			}
			for _, id := range got {
				if id != cc.id {
					t.Fatalf("stored batch codecs %v, want all %d: the test would not exercise decompression", got, cc.id)
				}
			}
			// The expected book: a model over the same deltas.
			want := map[uint64]uint64{100: 1}
			for i := uint64(2); i <= 200; i++ {
				want[100-i%50] = i
			}
			c := newTestConsumer(t, k, Config{}, &enginetest.Recorder{})
			runConsumer(t, c)
			testkit.WaitFor(t, 15*time.Second, "Ready", c.Ready)
			var levels int
			err := c.Do(context.Background(), "BTC-USD", func(b *book.Book) {
				levels = b.Len(book.Bids)
				if b.Seq() != 200 {
					t.Errorf("seq %d, want 200", b.Seq())
				}
				for p, s := range want {
					if got := b.Size(book.Bids, int64(p)); got != int64(s) {
						t.Errorf("bid %d: size %d, want %d", p, got, s)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if levels != len(want) {
				t.Errorf("%d bid levels, want %d", levels, len(want))
			}
		})
	}
}

func TestKafkaStartLatest(t *testing.T) {
	k := newTestCluster(t, 3)
	k.produce(t, enginetest.Snap("OLD-USD", 1, enginetest.L("1:1"), enginetest.L("2:1")), enginetest.Delta("OLD-USD", 2, enginetest.L("1:2"), nil))
	c := newTestConsumer(t, k, Config{Start: kafkatopic.Latest}, &enginetest.Recorder{})
	runConsumer(t, c)
	testkit.WaitFor(t, 5*time.Second, "Ready with nothing to catch up", c.Ready)
	k.produce(t, enginetest.Snap("NEW-USD", 7, enginetest.L("1:1"), enginetest.L("2:1")))
	waitBook(t, c, "NEW-USD", "live=true seq=7 1:1|2:1")
	if err := c.Do(context.Background(), "OLD-USD", func(*book.Book) {}); !errors.Is(err, engine.ErrUnknownSymbol) {
		t.Errorf("Do(OLD-USD) = %v, want engine.ErrUnknownSymbol: records before the start were read", err)
	}
}

func TestKafkaStartTime(t *testing.T) {
	k := newTestCluster(t, 2)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	k.produceAt(t, t0, enginetest.Snap("OLD-USD", 1, enginetest.L("1:1"), enginetest.L("2:1")))
	k.produceAt(t, t0.Add(time.Hour), enginetest.Snap("NEW-USD", 1, enginetest.L("1:1"), enginetest.L("2:1")), enginetest.Delta("NEW-USD", 2, nil, enginetest.L("2:5")))
	c := newTestConsumer(t, k, Config{Start: t0.Add(30 * time.Minute).Format(time.RFC3339)}, &enginetest.Recorder{})
	runConsumer(t, c)
	testkit.WaitFor(t, 10*time.Second, "Ready", c.Ready)
	waitBook(t, c, "NEW-USD", "live=true seq=2 1:1|2:5")
	if err := c.Do(context.Background(), "OLD-USD", func(*book.Book) {}); !errors.Is(err, engine.ErrUnknownSymbol) {
		t.Errorf("Do(OLD-USD) = %v, want engine.ErrUnknownSymbol", err)
	}

	// A start after everything: nothing is read, and the consumer is ready at once.
	c2 := newTestConsumer(t, k, Config{Start: time.Now().Add(time.Hour).Format(time.RFC3339)}, &enginetest.Recorder{})
	runConsumer(t, c2)
	testkit.WaitFor(t, 5*time.Second, "Ready", c2.Ready)
	if err := c2.Do(context.Background(), "NEW-USD", func(*book.Book) {}); !errors.Is(err, engine.ErrUnknownSymbol) {
		t.Errorf("Do(NEW-USD) with a future start = %v, want engine.ErrUnknownSymbol", err)
	}
}

func TestKafkaReadyMeansApplied(t *testing.T) {
	k := newTestCluster(t, 3)
	syms := []string{"A-USD", "B-USD", "C-USD", "D-USD", "E-USD", "F-USD"}
	var vals []string
	for _, s := range syms {
		vals = append(vals, enginetest.Snap(s, 1, enginetest.L("10:1"), enginetest.L("20:1")))
	}
	const n = 300
	for i := uint64(2); i <= n; i++ {
		for _, s := range syms {
			vals = append(vals, enginetest.Delta(s, i, enginetest.L(fmt.Sprintf("10:%d", i)), nil))
		}
	}
	k.produce(t, vals...)
	rec := &enginetest.Recorder{Delay: 50 * time.Microsecond} // slow writers: the queues hold events when the reads end
	c := newTestConsumer(t, k, Config{Books: engine.Config{Shards: 3, QueueSize: 64}}, rec)
	runConsumer(t, c)
	testkit.WaitFor(t, 20*time.Second, "Ready", c.Ready)
	if got, want := len(rec.Lines()), len(syms)*(n+1); got != want {
		t.Errorf("%d publisher calls when Ready turned true, want %d: Ready before the books caught up", got, want)
	}
	for _, s := range syms {
		if got, want := enginetest.BookOf(c.Do, s), fmt.Sprintf("live=true seq=%d 10:%d|20:1", n, n); got != want {
			t.Errorf("%s right after Ready: %q, want %q", s, got, want)
		}
	}
}

func TestKafkaEmptyTopicReady(t *testing.T) {
	k := newTestCluster(t, 3)
	c := newTestConsumer(t, k, Config{}, &enginetest.Recorder{})
	stop := runConsumer(t, c)
	testkit.WaitFor(t, 5*time.Second, "Ready on an empty topic", c.Ready)
	stop()
}

func TestKafkaWatchdogCancelsAStalledFetch(t *testing.T) {
	// kafka-go recovers from a lost fetch response by itself; the hangs the watchdog is for (kafka-go issues
	// #1133, #387, #847) cannot be provoked from the broker side, so drive the monitor directly.
	k := newTestCluster(t, 2)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("2:1")))
	for _, tc := range []struct {
		name string
		seen time.Duration // how long ago the monitor first saw the waiting call; 0: never seen
		want bool          // whether the partition with records is cancelled
	}{
		{"waiting 2s", 2 * time.Second, true},
		{"waiting 0.2s", 200 * time.Millisecond, false},
		{"new call", 0, false}, // first seen now: it has to wait StallTimeout from here
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testkit.NewMetrics()
			c := newTestConsumer(t, k, Config{Meter: m.Provider.Meter("t"), PollInterval: 50 * time.Millisecond, StallTimeout: time.Second}, &enginetest.Recorder{})
			transport := &kafka.Transport{}
			defer transport.CloseIdleConnections()
			client := &kafka.Client{Addr: kafka.TCP(k.addrs...), Transport: transport}
			parts, err := c.discover(context.Background(), client)
			if err != nil {
				t.Fatal(err)
			}
			var cancelled [2]atomic.Int32
			for i, st := range parts {
				st.fetches = 7
				st.fetching.Store(st.fetches) // both are waiting in their 7th call
				if tc.seen > 0 {
					st.fetchSeen, st.fetchSince = 7, time.Now().Add(-tc.seen).UnixNano()
				} else {
					st.fetchSeen, st.fetchSince = 6, time.Now().Add(-time.Hour).UnixNano() // an earlier call
				}
				st.cancel = func() { cancelled[i].Add(1) }
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { c.monitor(ctx, client, nil, parts, func(*partState, []*partState) {}) }) // no outage within the test: no pipeline needed
			time.Sleep(300 * time.Millisecond)
			cancel()
			wg.Wait()
			// The record went to one partition: only that one has records past its position.
			var hwms [2]int64
			for i, st := range parts {
				hwms[i] = st.hwm.Load()
			}
			for i := range parts {
				if want := tc.want && hwms[i] > 0; (cancelled[i].Load() > 0) != want {
					t.Errorf("partition %d (hwm %d, next 0): cancelled %d times, want cancelled %v", i, hwms[i], cancelled[i].Load(), want)
				}
			}
			if hwms[0]+hwms[1] != 1 {
				t.Errorf("high watermarks %v, want one record in all", hwms)
			}
		})
	}
}

func TestKafkaRestartedReaderResumesAtItsPosition(t *testing.T) {
	k := newTestCluster(t, 1)
	m := testkit.NewMetrics()
	c := newTestConsumer(t, k, Config{Meter: m.Provider.Meter("t")}, &enginetest.Recorder{})
	runConsumer(t, c)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("9:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("2:1"), nil))
	waitBook(t, c, "BTC-USD", "live=true seq=2 2:1,1:1|9:1")
	st := (*c.parts.Load())[0]
	testkit.WaitFor(t, 5*time.Second, "reader waiting in FetchMessage", func() bool { return st.fetching.Load() != 0 })
	st.mu.Lock()
	st.cancel() // what the watchdog does
	st.mu.Unlock()
	testkit.WaitFor(t, 5*time.Second, "restart", func() bool { return m.Value(t, metricReaderRestarts) == 1 })
	k.produce(t, enginetest.Delta("BTC-USD", 3, enginetest.L("3:1"), nil))
	waitBook(t, c, "BTC-USD", "live=true seq=3 3:1,2:1,1:1|9:1")
	if g, d := m.Value(t, engine.MetricGaps), m.Value(t, engine.MetricSkipped); g != 0 || d != 0 {
		t.Errorf("after the restart: gaps %d, skipped %d; want none (resume exactly at the next offset)", g, d)
	}
}

func TestKafkaDeadLetter(t *testing.T) {
	k := newTestCluster(t, 1)
	m := testkit.NewMetrics()
	c := newTestConsumer(t, k, Config{DeadLetterTopic: "md.dead", Meter: m.Provider.Meter("t")}, &enginetest.Recorder{})
	runConsumer(t, c)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("2:1")), `not json`, enginetest.Snap("BTC-USD", 2, enginetest.L("3:1"), enginetest.L("2:1")))
	testkit.WaitFor(t, 10*time.Second, "Ready", c.Ready)

	cons, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.ConsumeTopics("md.dead"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cons.PollFetches(ctx)
		cancel()
		got = append(got, fs.Records()...)
	}
	if len(got) != 2 {
		t.Fatalf("%d dead letters, want 2", len(got))
	}
	hdr := func(r *kgo.Record, key string) string {
		for _, h := range r.Headers {
			if h.Key == key {
				return string(h.Value)
			}
		}
		return ""
	}
	if string(got[0].Value) != "not json" || hdr(got[0], headerReason) != "bad_json" || hdr(got[0], headerOffset) != "1" || hdr(got[0], headerPartition) != "0" {
		t.Errorf("first dead letter %q headers %v", got[0].Value, got[0].Headers)
	}
	if hdr(got[1], headerReason) != "crossed" || string(got[1].Key) != "BTC-USD" {
		t.Errorf("second dead letter %q key %q headers %v", got[1].Value, got[1].Key, got[1].Headers)
	}
	testkit.WaitFor(t, 5*time.Second, metricDeadLetter+"{result=written} = 2", func() bool {
		return m.Value(t, metricDeadLetter, "result=written") == 2
	})
}

func TestKafkaUnknownPartitionIsAnError(t *testing.T) {
	k := newTestCluster(t, 2)
	c := newTestConsumer(t, k, Config{Partitions: []int{0, 5}}, &enginetest.Recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Run(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Run with partition 5 of a 2-partition topic = %v, want an error at once", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Brokers: []string{"k:9092"}}, true},
		{"no brokers", Config{}, false},
		{"empty broker", Config{Brokers: []string{" "}}, false},
		{"latest", Config{Brokers: []string{"k:9092"}, Start: "latest"}, true},
		{"time", Config{Brokers: []string{"k:9092"}, Start: "2026-11-24T10:00:00Z"}, true},
		{"bad start", Config{Brokers: []string{"k:9092"}, Start: "yesterday"}, false},
		{"negative partition", Config{Brokers: []string{"k:9092"}, Partitions: []int{-1}}, false},
		{"dead letter = topic", Config{Brokers: []string{"k:9092"}, DeadLetterTopic: "md.events"}, false},
		{"min > max bytes", Config{Brokers: []string{"k:9092"}, MinBytes: 10, MaxBytes: 5}, false},
		{"negative wait", Config{Brokers: []string{"k:9092"}, MaxWait: -1}, false},
		{"stall below wait", Config{Brokers: []string{"k:9092"}, StallTimeout: time.Second, MaxWait: time.Second}, false},
		{"bad shards", Config{Brokers: []string{"k:9092"}, Books: engine.Config{Shards: -2}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	d := Config{}.WithDefaults()
	if d.Topic != "md.events" || d.Start != "earliest" || d.Books.QueueSize != 4096 || d.MaxWait != 500*time.Millisecond ||
		d.MinBytes != 1 || d.MaxBytes != 1<<20 || d.Books.Shards < 1 || d.Books.Logger != d.Logger || d.Logger == nil || d.Meter == nil || d.DeadLetterTopic != "" {
		t.Errorf("defaults: %+v", d)
	}
}

// TestKafkaTopicRecreated: a topic deleted and created again starts its offsets (and here its seqs) over.
// The reader, past the new end, reads from the new start; the books go stale and take the next snapshot
// whatever its seq, never staying live on the old history.
func TestKafkaTopicRecreated(t *testing.T) {
	k := newTestCluster(t, 1)
	rec := &enginetest.Recorder{}
	c := newTestConsumer(t, k, Config{}, rec)
	runConsumer(t, c)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("9:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("2:1"), nil), enginetest.Delta("BTC-USD", 3, enginetest.L("3:1"), nil))
	waitBook(t, c, "BTC-USD", "live=true seq=3 3:1,2:1,1:1|9:1")

	ctx := context.Background()
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(testTopic)
	md.Topics = append(md.Topics, mt)
	mres, err := md.RequestWith(ctx, k.cl)
	if err != nil || len(mres.Topics) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{testTopic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = mres.Topics[0].TopicID
	del.Topics = append(del.Topics, dt)
	if res, err := del.RequestWith(ctx, k.cl); err != nil || len(res.Topics) != 1 || res.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete topic: %v %+v", err, res)
	}
	cr := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = testTopic, 1, 1
	cr.Topics = append(cr.Topics, ct)
	testkit.WaitFor(t, 10*time.Second, "topic created again", func() bool {
		res, err := cr.RequestWith(ctx, k.cl)
		return err == nil && len(res.Topics) == 1 && res.Topics[0].ErrorCode == 0
	})
	// A new producer, as the gateway of the new topic would be (a client caches the old topic's id).
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.DefaultProduceTopic(testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v := enginetest.Snap("BTC-USD", 1, enginetest.L("5:1"), enginetest.L("6:1"))
	if err := cl.ProduceSync(pctx, &kgo.Record{Key: []byte("BTC-USD"), Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitBook(t, c, "BTC-USD", "live=true seq=1 5:1|6:1")
	if !slices.ContainsFunc(rec.Lines(), func(l string) bool { return strings.HasPrefix(l, "status BTC-USD live=false") }) {
		t.Errorf("no stale status for BTC-USD between the two histories: %q", rec.Lines())
	}
}

// TestKafkaPartitionsAdded: partitions added to the topic while the consumer runs are read without a restart,
// from their first record.
func TestKafkaPartitionsAdded(t *testing.T) {
	k := newTestCluster(t, 1)
	c := newTestConsumer(t, k, Config{}, &enginetest.Recorder{})
	runConsumer(t, c)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("9:1")))
	waitBook(t, c, "BTC-USD", "live=true seq=1 1:1|9:1")
	testkit.WaitFor(t, 10*time.Second, "Ready", c.Ready)

	ctx := context.Background()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = testTopic, 3
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(ctx, k.cl)
	if err != nil || len(res.Topics) != 1 || res.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, res)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addrs...), kgo.DefaultProduceTopic(testTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, sym := range []string{"ETH-USD", "SOL-USD"} {
		v := enginetest.Snap(sym, 1, enginetest.L("2:1"), enginetest.L("3:1"))
		if err := cl.ProduceSync(pctx, &kgo.Record{Key: []byte(sym), Value: []byte(v), Partition: int32(i + 1)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitBook(t, c, "ETH-USD", "live=true seq=1 2:1|3:1")
	waitBook(t, c, "SOL-USD", "live=true seq=1 2:1|3:1")
	if n := len(*c.parts.Load()); n != 3 {
		t.Errorf("consumer reads %d partitions, want 3", n)
	}
	if !c.Ready() {
		t.Error("not ready after partitions were added")
	}
}

// A fetch cut short by MaxBytes reports a high watermark past its last record, so the reader holds that
// record's event for the next fetch; when that fetch does not come back, the event must not wait for it.
func TestKafkaHeldEventsDoNotWaitForAStalledFetch(t *testing.T) {
	k := newTestCluster(t, 1)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("1:1"), enginetest.L("9:1")))
	k.produce(t, enginetest.Delta("BTC-USD", 2, enginetest.L("2:1"), nil)) // a second record batch
	var fetches atomic.Int64
	release := make(chan struct{})
	k.c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		k.c.KeepControl()
		if fetches.Add(1) == 1 {
			return nil, nil, false // the first fetch: one record batch (MaxBytes 1), high watermark 2
		}
		<-release // later fetches hang until the end of the test
		return nil, nil, false
	})
	defer close(release)
	c := newTestConsumer(t, k, Config{MinBytes: 1, MaxBytes: 1}, &enginetest.Recorder{})
	start := time.Now()
	stop := runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=1 1:1|9:1")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("snapshot applied %v after the start, want it without the next fetch", d)
	}
	if n := fetches.Load(); n < 2 {
		t.Errorf("%d fetches, want the second one waiting", n)
	}
	stop()
}
