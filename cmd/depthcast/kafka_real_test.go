package main

// The real-Kafka suite: the node against Apache Kafka in KRaft mode (scripts/kafka.sh), every book checked
// through the wire contract by a WebSocket client (prev_seq chain, checksum of the top levels, whole book
// against the simulated exchange). It runs when DEPTHCAST_KAFKA_BROKERS (one node) names a cluster, and
// the failover scenarios when DEPTHCAST_KAFKA_BROKERS3 names a three-node one; with CI=true a missing
// cluster is a failure. scripts/test.sh starts both. Each scenario logs its figures (go test -v): records
// produced, what the node read, applied and rejected, the books and book messages checked, and how long
// the node took to recover.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/schema"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// realKafka returns the bootstrap brokers named by env, or skips (fails with CI=true) without them.
func realKafka(t *testing.T, env string) []string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: the real-Kafka suite must run in CI (scripts/test.sh starts the cluster)", env)
		}
		t.Skipf("%s not set: start a cluster with scripts/kafka.sh start and export it", env)
	}
	return strings.Split(v, ",")
}

var topicCounter atomic.Int64

// realTopic returns a topic name no other test run uses; the broker creates it on first use with the
// cluster's default of 3 partitions.
func realTopic(t *testing.T) string {
	return fmt.Sprintf("depthcast.%s.%d.%d", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano(), topicCounter.Add(1))
}

// realProducer returns a franz-go producer writing to topic with acks=all, keyed with Kafka's murmur2.
func realProducer(t *testing.T, brokers []string, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProduceRequestTimeout(20 * time.Second), kgo.RecordDeliveryTimeout(2 * time.Minute),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// realProduce writes records keyed by symbol and waits for the broker's acks.
func realProduce(t *testing.T, cl *kgo.Client, keys []string, values [][]byte) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i := range values {
		recs[i] = &kgo.Record{Key: []byte(keys[i]), Value: values[i]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// realNode starts a node reading topic from brokers.
func realNode(t *testing.T, brokers []string, topic, start string) *nodetest.Node {
	t.Helper()
	return nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic, Start: start}})
}

func subscribeBooks(t *testing.T, m *nodetest.Node, syms []string) *wsClient {
	t.Helper()
	return subscribeAt(t, m.Addr(), syms)
}

// subscribeAt dials the node at addr with a plain WebSocket client and subscribes it to the full books of syms.
func subscribeAt(t *testing.T, addr string, syms []string) *wsClient {
	t.Helper()
	c := dialWS(t, addr)
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	return c
}

func newExchange(t *testing.T, symbols int, seed int64) *sim.Exchange {
	t.Helper()
	x, err := sim.New(sim.Config{Symbols: symbols, Levels: 20, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// kafkaScript returns the path of scripts/kafka.sh.
func kafkaScript(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "kafka.sh")
}

// figures are a node's ingest counters, from GET /metrics.
type figures struct {
	events     int64 // valid events decoded
	rejected   int64 // records refused
	duplicates int64 // events skipped as redeliveries (seq at or below the last applied)
	notLive    int64 // deltas skipped while their book was stale
	gaps       int64 // seq jumps
	markers    int64 // transaction markers skipped
	restarts   int64 // partition readers restarted
}

// applied is how many events went into the books (or the trade stream) in order.
func (f figures) applied() int64 { return f.events - f.duplicates - f.notLive }

// nodeFigures reads a node's ingest counters.
func nodeFigures(t *testing.T, addr string) figures {
	t.Helper()
	code, body := httpGet(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	var f figures
	for _, s := range testkit.ParsePrometheus(body) {
		v := int64(s.Value)
		switch s.Name {
		case "depthcast_ingest_events_total":
			f.events += v
		case "depthcast_ingest_records_rejected_total":
			f.rejected += v
		case "depthcast_ingest_events_skipped_total":
			if s.Labels["reason"] == "duplicate" {
				f.duplicates += v
			} else {
				f.notLive += v
			}
		case "depthcast_ingest_gaps_total":
			f.gaps += v
		case "depthcast_ingest_records_control_total":
			f.markers += v
		case "depthcast_ingest_reader_restarts_total":
			f.restarts += v
		}
	}
	return f
}

// logFigures logs a scenario's figures: records produced, what the node read, applied and rejected, the
// books checked against the exchange and the book messages whose prev_seq and checksum the client verified,
// and the time the node took to recover (0: nothing to recover from).
func logFigures(t *testing.T, addr string, produced, books, messages int, recovered time.Duration) figures {
	t.Helper()
	f := nodeFigures(t, addr)
	t.Logf("figures: produced %d records; node read %d events, applied %d, rejected %d, skipped %d duplicates and %d deltas of stale books, saw %d gaps and %d transaction markers, restarted readers %d times; %d books checked, %d book messages verified; recovered in %v",
		produced, f.events, f.applied(), f.rejected, f.duplicates, f.notLive, f.gaps, f.markers, f.restarts, books, messages, recovered.Round(time.Millisecond))
	return f
}

// nodeProcess is "depthcast serve" in a process of its own: the test binary run as the command (TestMain),
// so that a test can send it real signals.
type nodeProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr testkit.Buffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// serveProcess starts "depthcast serve ARGS" and waits until it serves; the process is killed at cleanup
// if it is still running.
func serveProcess(t *testing.T, args ...string) *nodeProcess {
	t.Helper()
	p := &nodeProcess{exited: make(chan struct{})}
	var stdout testkit.Buffer
	p.cmd = exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	p.cmd.Env = append(os.Environ(), "DEPTHCAST_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = &stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start depthcast serve: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	testkit.WaitFor(t, waitTimeout, "depthcast serve to listen", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("depthcast serve exited before serving: %v\n%s", p.err, p.stderr.String())
		default:
		}
		m := servingRE.FindStringSubmatch(stdout.String())
		if m != nil {
			p.addr = m[1]
		}
		return m != nil
	})
	return p
}

func (p *nodeProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal depthcast serve: %v", err)
	}
}

// terminate sends SIGTERM and checks that the process drains and exits 0.
func (p *nodeProcess) terminate(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("depthcast serve after SIGTERM: %v\n%s", p.err, p.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("depthcast serve did not exit after SIGTERM")
	}
}

// waitReadyAt waits until the node at addr answers GET /readyz with 200.
func waitReadyAt(t *testing.T, addr string) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Minute, "/readyz", func() bool { code, _ := httpGet(t, addr, "/readyz"); return code == http.StatusOK })
}

// murmur2Partition is the partition a Java client's default partitioner picks for key among n.
func murmur2Partition(topic, key string, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(topic).Partition(&kgo.Record{Key: []byte(key)}, n))
}

// checkPlacement reads every record of topic back (no consumer group) until it has want of them, and
// checks that each sits on the partition murmur2 of its key gives among n.
func checkPlacement(t *testing.T, brokers []string, topic string, n, want int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("kgo: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, wrong := 0, 0
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records: %v", got, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if p := murmur2Partition(topic, string(r.Key), n); r.Partition != p {
				wrong++
				if wrong <= 3 {
					t.Errorf("key %s on partition %d, murmur2 gives %d", r.Key, r.Partition, p)
				}
			}
		})
	}
	if wrong > 0 {
		t.Errorf("%d of %d records not on their key's murmur2 partition", wrong, got)
	}
}

// checkNoConsumerGroup fails if any consumer group on the cluster reads topic: the node reads its
// partitions directly.
func checkNoConsumerGroup(t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	lg, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if len(lg.Groups) == 0 {
		return
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	for _, g := range lg.Groups {
		dg.Groups = append(dg.Groups, g.Group)
	}
	resp, err := dg.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	for _, g := range resp.Groups {
		for _, m := range g.Members {
			if bytes.Contains(m.ProtocolMetadata, []byte(topic)) || bytes.Contains(m.MemberAssignment, []byte(topic)) {
				t.Errorf("consumer group %s reads %s", g.Group, topic)
			}
		}
	}
}

// Every codec, every partition, no consumer group: five producers, one per codec (none, gzip, snappy, lz4,
// zstd), each writing its own symbols keyed with murmur2 into a 3-partition topic; a node started at
// earliest turns ready at the start high watermarks and its client's books equal the exchange's, through
// history and live flow. No consumer group on the cluster reads the topic.
func TestKafkaCodecsAndPartitions(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	x := newExchange(t, 2*len(codecs), 21)
	syms := x.Symbols()
	prods := map[string]*kgo.Client{}
	for i, s := range syms {
		prods[s] = realProducer(t, brokers, topic, kgo.ProducerBatchCompression(codecs[i%len(codecs)]), kgo.ProducerLinger(5*time.Millisecond))
	}
	write := func(n int) {
		by := map[string][][]byte{}
		keys, values := events(x, n)
		for i, k := range keys {
			by[k] = append(by[k], values[i])
		}
		for sym, vs := range by {
			ks := make([]string, len(vs))
			for i := range ks {
				ks[i] = sym
			}
			realProduce(t, prods[sym], ks, vs)
		}
	}
	write(2000)
	m := realNode(t, brokers, topic, "earliest")
	waitReadyAt(t, m.Addr())
	// Ready means caught up with the start high watermarks: every symbol is already known and live, and
	// the first snapshots a client gets are the exchange's books.
	if got := symbolsStatus(t, m.Addr()); len(got) != len(syms) || slices.ContainsFunc(got, func(s string) bool { return !strings.HasSuffix(s, ":live") }) {
		t.Fatalf("/readyz 200 with symbols %v, want all %d live", got, len(syms))
	}
	c := subscribeBooks(t, m, syms)
	c.readUntil("a snapshot of every symbol", func() bool { return len(c.books) == len(syms) })
	for _, s := range syms {
		if got, want := c.books[s].top(0), exchangeBook(x.Book(s)); got != want {
			t.Errorf("%s at /readyz: %s, want %s", s, got, want)
		}
	}
	write(2000)
	waitBooks(t, c, x)
	if len(c.stale) != 0 {
		t.Errorf("stale for %v", c.stale)
	}
	checkNoConsumerGroup(t, prods[syms[0]], topic)
	if f := logFigures(t, m.Addr(), 4000, len(syms), c.checked, 0); f.events != 4000 || f.rejected != 0 || f.gaps != 0 {
		t.Errorf("%+v: want all 4000 records read, none rejected, no gap", f)
	}
}

// Records from the Java producer (kafka-console-producer from the Kafka jars) and from librdkafka (kcat),
// keyed by symbol, in every codec (none, gzip, snappy, lz4, zstd), one after the other on the same
// symbols, are read like franz-go's: the books follow every step, and every record sits on the partition
// murmur2 of its key gives, as with Java's default partitioner, so producers of both kinds agree on where a
// symbol lives.
func TestKafkaJavaAndKcatProducers(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not installed (scripts/test.sh installs it)")
		}
		t.Skip("kcat not installed: apt-get install -y kcat")
	}
	topic := realTopic(t)
	x := newExchange(t, 4, 22)
	syms := x.Symbols()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	produced := 0
	lines := func(n int) *bytes.Buffer {
		keys, values := events(x, n)
		var in bytes.Buffer
		for i := range keys {
			in.WriteString(keys[i] + "\t" + string(values[i]) + "\n")
		}
		produced += n
		return &in
	}
	var c *wsClient
	var m *nodetest.Node
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		java := exec.CommandContext(ctx, "bash", kafkaScript(t), "class", "org.apache.kafka.tools.ConsoleProducer",
			"--bootstrap-server", strings.Join(brokers, ","), "--topic", topic, "--compression-codec", codec,
			"--property", "parse.key=true", "--property", "key.separator=\t", "--producer-property", "acks=all")
		java.Stdin = lines(300)
		if out, err := java.CombinedOutput(); err != nil {
			t.Fatalf("kafka-console-producer --compression-codec %s: %v\n%s", codec, err, out)
		}
		if m == nil {
			m = realNode(t, brokers, topic, "earliest")
			waitReadyAt(t, m.Addr())
			c = subscribeBooks(t, m, syms)
		}
		waitBooks(t, c, x)
		kc := exec.CommandContext(ctx, kcat, "-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", "\t",
			"-z", codec, "-X", "partitioner=murmur2_random", "-X", "acks=all")
		kc.Stdin = lines(300)
		if out, err := kc.CombinedOutput(); err != nil {
			t.Fatalf("kcat -z %s: %v\n%s", codec, err, out)
		}
		waitBooks(t, c, x)
	}
	if len(c.stale) != 0 {
		t.Errorf("stale for %v: a producer's partitioning broke a symbol's order", c.stale)
	}
	checkPlacement(t, brokers, topic, 3, produced)
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, 0); f.events != int64(produced) || f.rejected != 0 || f.gaps != 0 {
		t.Errorf("%+v: want all %d records read, none rejected, no gap", f, produced)
	}
}

// --start latest reads nothing written before the node started; --start <RFC 3339 time> starts each
// partition at the broker's ListOffsets answer for that time. Each node turns ready at once (nothing to
// catch up) and its books are those of the flow written after the start point only: a record from before it
// would hold a higher seq of the same symbol and the later snapshot would be skipped as a redelivery.
func TestKafkaStartPositions(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	for _, mode := range []string{"latest", "time"} {
		t.Run(mode, func(t *testing.T) {
			topic := realTopic(t)
			prod := realProducer(t, brokers, topic)
			old := newExchange(t, 3, 31)
			produceEvents(t, prod, old, 1500)
			start := "latest"
			if mode == "time" {
				at := time.Now()
				time.Sleep(20 * time.Millisecond) // a clock boundary between the two flows, not a wait for a condition
				start = at.UTC().Format(time.RFC3339Nano)
			}
			x := newExchange(t, 3, 32)
			if mode == "time" {
				produceEvents(t, prod, x, 800)
			}
			m := realNode(t, brokers, topic, start)
			waitReadyAt(t, m.Addr())
			if mode == "latest" {
				if got := symbolsStatus(t, m.Addr()); len(got) != 0 {
					t.Fatalf("--start latest: symbols %v before any new record", got)
				}
				produceEvents(t, prod, x, 800)
			}
			waitFor(t, "every symbol to be known", func() bool { return len(symbolsStatus(t, m.Addr())) == len(x.Symbols()) })
			c := subscribeBooks(t, m, x.Symbols())
			waitBooks(t, c, x)
			produceEvents(t, prod, x, 500)
			waitBooks(t, c, x)
		})
	}
}

// produceEvents writes the next n events of x and returns n.
func produceEvents(t *testing.T, cl *kgo.Client, x *sim.Exchange, n int) int {
	t.Helper()
	keys, values := events(x, n)
	realProduce(t, cl, keys, values)
	return n
}

// A transactional producer commits some transactions and aborts others, before the node starts and again
// while it serves; the aborted ones hold records that would take the seq of the next real event of a symbol
// with a level of size 999 at price 1. Aborted records never reach a book (the node decodes exactly the
// committed records, and the books equal the exchange's, which never has that level) and the control
// markers of the transactions are skipped without a rejection or a gap.
func TestKafkaTransactions(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	x := newExchange(t, 3, 41)
	syms := x.Symbols()
	tx := realProducer(t, brokers, topic, kgo.TransactionalID(topic+".tx"), kgo.TransactionTimeout(30*time.Second))
	var all [][]byte
	produced, committed, aborted := 0, 0, 0
	transactions := func(n int) {
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			if err := tx.BeginTransaction(); err != nil {
				t.Fatalf("begin: %v", err)
			}
			var keys []string
			var values [][]byte
			commit := i%2 == 0
			if commit {
				keys, values = events(x, 300)
				all = append(all, values...)
				committed += len(values)
			} else {
				for _, s := range syms {
					keys = append(keys, s)
					values = append(values, fmt.Appendf(nil, `{"type":"delta","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","bids":[["1","999"]],"asks":[]}`, s, nextSeq(all, s)))
				}
				aborted += len(values)
			}
			produced += len(values)
			for i := range values {
				if err := tx.ProduceSync(ctx, &kgo.Record{Key: []byte(keys[i]), Value: values[i]}).FirstErr(); err != nil {
					t.Fatalf("produce in a transaction: %v", err)
				}
			}
			if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatalf("end transaction: %v", err)
			}
			cancel()
		}
	}
	transactions(8) // history: read at the start
	m := realNode(t, brokers, topic, "earliest")
	waitReadyAt(t, m.Addr())
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	transactions(8) // live: read at the last stable offset as they end
	waitBooks(t, c, x)
	for _, s := range syms {
		if _, ok := c.books[s].bids["1"]; ok {
			t.Errorf("%s: the aborted level 1:999 is in the book", s)
		}
	}
	if len(c.stale) != 0 {
		t.Errorf("stale for %v: control markers or aborted records made a gap", c.stale)
	}
	f := logFigures(t, m.Addr(), produced, len(syms), c.checked, 0)
	t.Logf("%d records committed in 8 transactions, %d aborted in 8", committed, aborted)
	if f.events != int64(committed) || f.rejected != 0 || f.gaps != 0 || f.markers < 16 {
		t.Errorf("%+v: want the %d committed records read and no aborted one, none rejected, no gap, at least 16 markers", f, committed)
	}
}

// Two feed nodes on the same cluster and topic: node 1 is "depthcast serve" in a process of its own, node 2
// runs in the test. They send the same seqs and checksums for the same records (every book message both
// sent for a seq carries the same checksum). Two clients follow node 1: a plain WebSocket loop (gorilla,
// with its own books) and a client of the client package behind a balancer. Node 1 gets SIGTERM and drains
// (1001); the balancer now sends to node 2. The plain client dials node 2 and subscribes with resume at the
// seqs it holds, the client package reconnects by itself; both continue every book by seq from updates
// alone (no snapshot), with the prev_seq chain and checksums intact, through records written while they
// moved and after, and end equal to the exchange's.
func TestKafkaTwoNodes(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 4, 51)
	syms := x.Symbols()
	produced := produceEvents(t, prod, x, 1500)
	n1 := serveProcess(t, "--brokers", strings.Join(brokers, ","), "--topic", topic, "--listen", "127.0.0.1:0", "--start", "earliest")
	m2 := realNode(t, brokers, topic, "earliest")
	waitReadyAt(t, n1.addr)
	waitReadyAt(t, m2.Addr())

	var to atomic.Value
	to.Store(n1.addr)
	lb := switchProxy(t, &to)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, "ws://"+lb+"/ws", client.Config{ViewDepth: 0, MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer cl.Close()
	go func() {
		for range cl.Events() {
		}
	}()
	if err := cl.SubscribeBook(ctx, client.BookOptions{}, syms...); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	libEqual := func() bool {
		for _, s := range syms {
			v, ok := cl.Book(s, 0)
			if !ok || !v.ChecksumOK || viewBook(v) != exchangeBook(x.Book(s)) {
				return false
			}
		}
		return true
	}

	c1 := subscribeAt(t, n1.addr, syms)
	c2 := subscribeBooks(t, m2, syms)
	c1.sums, c2.sums = map[string]map[uint64]uint32{}, map[string]map[uint64]uint32{}
	produced += produceEvents(t, prod, x, 1000)
	waitBooks(t, c1, x)
	waitBooks(t, c2, x)
	testkit.WaitFor(t, 2*time.Minute, "the client package's books on node 1", libEqual)
	common := 0
	for _, s := range syms {
		b1, b2 := c1.books[s], c2.books[s]
		if b1.seq != b2.seq || b1.top(10) != b2.top(10) {
			t.Errorf("%s: node 1 at seq %d %s, node 2 at seq %d %s", s, b1.seq, b1.top(10), b2.seq, b2.top(10))
		}
		for seq, sum := range c1.sums[s] {
			if sum2, ok := c2.sums[s][seq]; ok {
				common++
				if sum != sum2 {
					t.Errorf("%s seq %d: checksum %d on node 1, %d on node 2", s, seq, sum, sum2)
				}
			}
		}
	}
	if common < 500 {
		t.Errorf("only %d book messages seen on both nodes", common)
	}

	held := map[string]uint64{}
	books := map[string]*localBook{}
	for _, s := range syms {
		held[s], books[s] = c1.books[s].seq, c1.books[s]
	}
	to.Store(m2.Addr())
	closed := c1.awaitClose()
	start := time.Now()
	n1.terminate(t)
	checkClose(t, "the plain client on node 1", closed, 1001)
	produced += produceEvents(t, prod, x, 200) // while the clients move
	r := dialWS(t, m2.Addr())
	r.books = c1.books
	r.send(fmt.Sprintf(`{"op":"subscribe","id":2,"channel":"book","symbols":%s,"resume":%s}`, mustJSON(syms), mustJSON(held)))
	produced += produceEvents(t, prod, x, 1000)
	waitBooks(t, r, x)
	testkit.WaitFor(t, 2*time.Minute, "the client package's books on node 2", libEqual)
	moved := time.Since(start)
	for _, s := range syms {
		if r.books[s] != books[s] || r.books[s].seq <= held[s] {
			t.Errorf("%s: the plain client's book was replaced by a snapshot or did not move on node 2 (held seq %d, now %d)", s, held[s], r.books[s].seq)
		}
	}
	if len(r.stale) != 0 {
		t.Errorf("stale on node 2 for %v", r.stale)
	}
	st := cl.Stats()
	t.Logf("client package: %+v", st)
	if st.Connects < 2 || st.Resumes < int64(len(syms)) || st.Gaps != 0 || st.Checksums != 0 {
		t.Errorf("client package stats %+v: want a reconnect, every book resumed, no gap or checksum mismatch", st)
	}
	waitBooks(t, c2, x)
	logFigures(t, m2.Addr(), produced, 3*len(syms), c1.checked+r.checked+c2.checked+int(st.Snapshots+st.Updates), moved)
	t.Logf("%d book messages compared between the nodes; both clients resumed on node 2 within %v of SIGTERM to node 1", common, moved.Round(time.Millisecond))
}

// kafkaRunDir is where scripts/kafka.sh keeps the state of cluster name (data, logs, PIDs).
func kafkaRunDir(name string) string {
	if d := os.Getenv("DEPTHCAST_KAFKA_RUN"); d != "" {
		return filepath.Join(d, name)
	}
	return filepath.Join(os.TempDir(), "depthcast-kafka", name)
}

// partitionLeader returns the node id leading partition p of topic.
func partitionLeader(t *testing.T, cl *kgo.Client, topic string, p int32) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, tp := range resp.Topics {
		for _, pp := range tp.Partitions {
			if pp.Partition == p {
				return pp.Leader
			}
		}
	}
	t.Fatalf("no partition %d of %s in metadata", p, topic)
	return -1
}

// signalNode sends sig to node id of the three-node cluster and waits until the process is gone.
func signalNode(t *testing.T, id int32, sig syscall.Signal) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kafkaRunDir(clusterOf(id)), fmt.Sprintf("node%d", nodeOf(id)), "pid"))
	if err != nil {
		t.Fatalf("pid of broker %d: %v", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid of broker %d: %v", id, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal broker %d: %v", id, err)
	}
	testkit.WaitFor(t, 2*time.Minute, fmt.Sprintf("broker %d to exit", id), func() bool { return syscall.Kill(pid, 0) != nil })
}

// restartNode starts node id of the three-node cluster again and waits until every node answers.
func restartNode(t *testing.T, id int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", kafkaScript(t), "restart-node", "--name", clusterOf(id), strconv.Itoa(int(nodeOf(id)))).CombinedOutput()
	if err != nil {
		t.Fatalf("restart broker %d: %v\n%s", id, err, out)
	}
}

// Leader failover on three nodes with replication factor 3 and acks=all: the leader of a partition is
// killed (SIGKILL) while records flow, then another leader is stopped by a controlled shutdown (SIGTERM).
// The producer keeps writing through each election; every client book stays equal to the exchange's with
// an intact prev_seq chain (a record applied twice breaks the chain), no symbol turns stale, the node stays
// ready, and the lag of every partition returns to 0. After a SIGKILL the controller notices the broker's
// death only at its session timeout (9 s), and on a loaded machine the partition can be out of reach for
// longer than the default --outage-timeout (15 s), which would rightly mark its books stale (TestKafkaOutage
// covers that): the node here has an outage timeout of 2 minutes, so a stale book can only be a gap.
func TestKafkaLeaderFailover(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS3")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 6, 61)
	syms := x.Symbols()
	produced := produceEvents(t, prod, x, 1500)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{
		Brokers: brokers, Topic: topic, Start: "earliest", PollInterval: 500 * time.Millisecond, OutageTimeout: 2 * time.Minute,
	}})
	waitReadyAt(t, m.Addr())
	waitFor(t, "every symbol to be known", func() bool { return len(symbolsStatus(t, m.Addr())) == len(syms) })
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	for i, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		leader := partitionLeader(t, prod, topic, int32(i))
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			signalNode(t, leader, sig)
		}()
		produced += produceEvents(t, prod, x, 1000) // through the election
		<-done
		produced += produceEvents(t, prod, x, 500)
		waitBooks(t, c, x)
		caught := time.Since(start)
		testkit.WaitFor(t, 2*time.Minute, "zero lag on every partition", func() bool {
			lag := partitionLag(t, m.Addr())
			return len(lag) == 3 && lag[0]+lag[1]+lag[2] == 0
		})
		t.Logf("%v to broker %d (leader of partition %d): books equal the exchange's %v later, lag 0 after %v",
			sig, leader, i, caught.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if code, body := httpGet(t, m.Addr(), "/readyz"); code != http.StatusOK {
			t.Errorf("/readyz after the failover: %d %s", code, body)
		}
		logFigures(t, m.Addr(), produced, len(syms), c.checked, caught)
		restartNode(t, leader)
	}
	produced += produceEvents(t, prod, x, 500)
	waitBooks(t, c, x)
	if len(c.stale) != 0 {
		t.Errorf("stale for %v during a leader failover", c.stale)
	}
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, 0); f.rejected != 0 || f.gaps != 0 {
		t.Errorf("%+v: want no rejection and no gap", f)
	}
}

// singleNode names node 1 of the one-node cluster for signalNode and restartNode; ids 1..3 are the nodes of
// the three-node cluster.
const singleNode int32 = 101

func clusterOf(id int32) string {
	if id == singleNode {
		return "c1"
	}
	return "c3"
}

func nodeOf(id int32) int32 {
	if id == singleNode {
		return 1
	}
	return id
}

// The whole cluster restarts (the one node of DEPTHCAST_KAFKA_BROKERS stops cleanly and starts again) while
// the node serves: the node rides through it, then the flow written after it resumes without a gap and
// every book equals the exchange's. The restart can take longer than the default --outage-timeout on a
// loaded machine, which would rightly mark the books stale (TestKafkaOutage covers that): the node here has
// an outage timeout of 2 minutes, so a stale book can only be a gap.
func TestKafkaClusterRestart(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 3, 71)
	syms := x.Symbols()
	produced := produceEvents(t, prod, x, 1000)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{
		Brokers: brokers, Topic: topic, Start: "earliest", OutageTimeout: 2 * time.Minute,
	}})
	waitReadyAt(t, m.Addr())
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	start := time.Now()
	signalNode(t, singleNode, syscall.SIGTERM)
	restartNode(t, singleNode)
	back := time.Now()
	produced += produceEvents(t, prod, x, 1000)
	waitBooks(t, c, x)
	t.Logf("cluster down and up again in %v; books caught up %v after it was back", back.Sub(start).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	if len(c.stale) != 0 {
		t.Errorf("stale for %v after a clean cluster restart", c.stale)
	}
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, time.Since(back)); f.rejected != 0 || f.gaps != 0 {
		t.Errorf("%+v: want no rejection and no gap", f)
	}
}

// Partitions added to the topic while a node serves are read without a restart: after the topic grows from
// 3 to 6 partitions, a new producer's records for symbols whose keys now hash to a new partition reach
// the books, which follow without a gap (the node polls the topic's metadata every --poll-interval; a
// symbol's records on a new partition all come after its records on the old one).
func TestKafkaPartitionsAdded(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 8, 81)
	syms := x.Symbols()
	moving := 0
	for _, s := range syms {
		if murmur2Partition(topic, s, 6) >= 3 {
			moving++
		}
	}
	if moving == 0 {
		t.Fatalf("no symbol of %v hashes to a new partition: the test would prove nothing", syms)
	}
	produced := produceEvents(t, prod, x, 1000)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{
		Brokers: brokers, Topic: topic, Start: "earliest", PollInterval: time.Second,
	}})
	waitReadyAt(t, m.Addr())
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	start := time.Now()
	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, 6
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, prod)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %+v", err, resp)
	}
	grown := realProducer(t, brokers, topic)
	produced += produceEvents(t, grown, x, 2000)
	waitBooks(t, c, x)
	recovered := time.Since(start)
	if lag := partitionLag(t, m.Addr()); len(lag) != 6 {
		t.Errorf("lag of partitions %v, want 6 partitions", lag)
	}
	if len(c.stale) != 0 {
		t.Errorf("stale for %v", c.stale)
	}
	t.Logf("%d of %d symbols moved to the new partitions", moving, len(syms))
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, recovered); f.rejected != 0 || f.gaps != 0 || f.events != int64(produced) {
		t.Errorf("%+v: want all %d records read, none rejected, no gap", f, produced)
	}
}

// The broker unreachable for longer than --outage-timeout: the node's live books turn stale (clients get
// status stale) and /readyz answers 503; when the broker is back the books are republished and follow the
// flow again, all live, /readyz 200.
func TestKafkaOutage(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 3, 91)
	syms := x.Symbols()
	produced := produceEvents(t, prod, x, 1000)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{
		Brokers: brokers, Topic: topic, OutageTimeout: 3 * time.Second, PollInterval: 500 * time.Millisecond,
	}})
	waitReadyAt(t, m.Addr())
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	start := time.Now()
	signalNode(t, singleNode, syscall.SIGKILL)
	c.readUntil("status stale for every symbol", func() bool { return len(c.stale) >= len(syms) })
	t.Logf("every book stale %v after the broker died", time.Since(start).Round(time.Millisecond))
	if code, _ := httpGet(t, m.Addr(), "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz in an outage: %d, want 503", code)
	}
	restartNode(t, singleNode)
	back := time.Now()
	produced += produceEvents(t, prod, x, 1500)
	waitBooks(t, c, x)
	testkit.WaitFor(t, 2*time.Minute, "/readyz 200 and every symbol live", func() bool {
		code, _ := httpGet(t, m.Addr(), "/readyz")
		if code != http.StatusOK {
			return false
		}
		for _, s := range symbolsStatus(t, m.Addr()) {
			if !strings.HasSuffix(s, ":live") {
				return false
			}
		}
		return true
	})
	t.Logf("live and ready %v after the broker was back", time.Since(back).Round(time.Millisecond))
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, time.Since(back)); f.rejected != 0 || f.events != int64(produced) {
		t.Errorf("%+v: want all %d records read, none rejected", f, produced)
	}
}

// Retention: every record written so far deleted (DeleteRecords up to the high watermark, as
// kafka-delete-records does) before a node starts at earliest leaves it a stream that starts mid-book. No book is served live from a delta
// without its snapshot: each symbol goes live at its next snapshot and then equals the exchange's.
func TestKafkaRetention(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 95, ResnapshotEvery: 300})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	produceEvents(t, prod, x, 1500)
	deleteRecords(t, prod, topic, 3)
	m := realNode(t, brokers, topic, "earliest")
	waitReadyAt(t, m.Addr())
	start := time.Now()
	produced := 1500 + produceEvents(t, prod, x, 3000)
	waitFor(t, "every symbol to be known", func() bool { return len(symbolsStatus(t, m.Addr())) == len(syms) })
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	if f := logFigures(t, m.Addr(), produced, len(syms), c.checked, time.Since(start)); f.events != 3000 || f.rejected != 0 {
		t.Errorf("%+v: want the 3000 records after the deletion read, none rejected", f)
	}
}

// deleteRecords deletes every record of topic's partitions 0..n-1 written so far (DeleteRecords up to the
// high watermark, as kafka-delete-records does).
func deleteRecords(t *testing.T, cl *kgo.Client, topic string, n int32) {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p := range n {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, -1 // everything written so far
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	for _, tp := range resp.Topics {
		for _, pp := range tp.Partitions {
			if pp.ErrorCode != 0 {
				t.Fatalf("delete records of partition %d: error %d, low watermark %d", pp.Partition, pp.ErrorCode, pp.LowWatermark)
			}
		}
	}
}

// Retention below the reader's position: a serving node ("depthcast serve" in its own process) is stopped
// (SIGSTOP) while records are written and then deleted unread (DeleteRecords up to the high watermark), and
// more are written; when it continues (SIGCONT) its position is below the log start. It resumes at the
// log start and every symbol shows the gap: each book turns stale (clients get status stale, never an update
// that skips the deleted events), and is live again at its next snapshot, equal to the exchange's.
func TestKafkaRetentionBelowReader(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 96, ResnapshotEvery: 200})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	produced := produceEvents(t, prod, x, 600)
	n := serveProcess(t, "--brokers", strings.Join(brokers, ","), "--topic", topic, "--listen", "127.0.0.1:0", "--start", "earliest")
	waitReadyAt(t, n.addr)
	c := subscribeAt(t, n.addr, syms)
	waitBooks(t, c, x)
	n.signal(t, syscall.SIGSTOP)
	// A few records of every symbol first: they answer whatever fetch the node had waiting at the broker,
	// so nothing after them can reach it before it continues.
	keys, values := events(x, 60)
	for _, s := range syms {
		if !slices.Contains(keys, s) {
			t.Fatalf("no record of %s among the first records written while the node is stopped", s)
		}
	}
	realProduce(t, prod, keys, values)
	produced += 60 + produceEvents(t, prod, x, 600)
	deleteRecords(t, prod, topic, 3)
	produced += produceEvents(t, prod, x, 900)
	n.signal(t, syscall.SIGCONT)
	start := time.Now()
	c.readUntil("status stale for every symbol", func() bool {
		for _, s := range syms {
			if !slices.Contains(c.stale, s) {
				return false
			}
		}
		return true
	})
	waitBooks(t, c, x)
	recovered := time.Since(start)
	f := logFigures(t, n.addr, produced, len(syms), c.checked, recovered)
	if f.gaps < int64(len(syms)) || f.rejected != 0 {
		t.Errorf("%+v: want a gap for every symbol, no rejection", f)
	}
	n.terminate(t)
}

// switchProxy forwards TCP connections to the address in to, read at each accept: a load balancer in
// front of two nodes.
func switchProxy(t *testing.T, to *atomic.Value) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to.Load().(string))
			if err != nil {
				_ = in.Close()
				continue
			}
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			go pipe(in, out)
			go pipe(out, in)
		}
	}()
	return ln.Addr().String()
}

// viewBook renders a client book view like exchangeBook.
func viewBook(v client.BookView) string {
	var sb strings.Builder
	for i, side := range [][]schema.Level{v.Bids, v.Asks} {
		if i == 1 {
			sb.WriteByte('|')
		}
		for _, l := range side {
			sb.WriteString(l.Price.String() + ":" + l.Size.String() + ";")
		}
	}
	return sb.String()
}

// A topic deleted and re-created is a gap: the node reads the new topic from its start, the books turn
// stale, and they are live again at the new flow's snapshots (whose seqs start over at 1).
//   - serving: the node reads on through the deletion; the new topic's offsets begin again below its
//     position;
//   - stopped: the node ("depthcast serve" in its own process) is stopped (SIGSTOP) while the topic is
//     deleted, created again and written past the node's position, so that the offsets alone do not show
//     it: the topic's new ID does.
func TestKafkaTopicRecreated(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	for _, mode := range []string{"serving", "stopped"} {
		t.Run(mode, func(t *testing.T) {
			topic := realTopic(t)
			prod := realProducer(t, brokers, topic)
			x := newExchange(t, 3, 97)
			syms := x.Symbols()
			oldKeys, values := events(x, 600)
			realProduce(t, prod, oldKeys, values)
			produced := len(values)
			var addr string
			var n *nodeProcess
			if mode == "serving" {
				m := realNode(t, brokers, topic, "earliest")
				waitReadyAt(t, m.Addr())
				addr = m.Addr()
			} else {
				n = serveProcess(t, "--brokers", strings.Join(brokers, ","), "--topic", topic, "--listen", "127.0.0.1:0", "--start", "earliest")
				waitReadyAt(t, n.addr)
				addr = n.addr
			}
			c := subscribeAt(t, addr, syms)
			waitBooks(t, c, x)
			if n != nil {
				n.signal(t, syscall.SIGSTOP)
			}
			start := time.Now()
			req := kmsg.NewPtrDeleteTopicsRequest()
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			req.TopicNames = []string{topic}
			req.TimeoutMillis = 30000
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if resp, err := req.RequestWith(ctx, prod); err != nil || resp.Topics[0].ErrorCode != 0 {
				t.Fatalf("delete topic: %v %+v", err, resp)
			}
			// The new topic's flow starts from seq 1 again: a new exchange with the same symbols.
			x2 := newExchange(t, 3, 98)
			fresh := realProducer(t, brokers, topic)
			keys, values := events(x2, 1) // the first record, written again until the new topic takes it
			testkit.WaitFor(t, 2*time.Minute, "the topic to be re-created", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return fresh.ProduceSync(ctx, &kgo.Record{Key: []byte(keys[0]), Value: values[0]}).FirstErr() == nil
			})
			newKeys, values := events(x2, 1500)
			realProduce(t, fresh, newKeys, values)
			produced += 1 + len(values)
			if n != nil {
				// Every partition of the new topic reaches past the node's position in the old one.
				count := func(keys []string) map[int32]int {
					out := map[int32]int{}
					for _, k := range keys {
						out[murmur2Partition(topic, k, 3)]++
					}
					return out
				}
				was, now := count(oldKeys), count(newKeys)
				for p, o := range was {
					if now[p] <= o {
						t.Fatalf("partition %d: %d records in the new topic, not past the node's position %d", p, now[p], o)
					}
				}
				n.signal(t, syscall.SIGCONT)
				start = time.Now()
			}
			c.readUntil("status stale for every symbol", func() bool { return len(c.stale) >= len(syms) })
			waitBooks(t, c, x2)
			if f := logFigures(t, addr, produced, len(syms), c.checked, time.Since(start)); f.rejected != 0 {
				t.Errorf("%+v: want no rejection", f)
			}
			if n != nil {
				n.terminate(t)
			}
		})
	}
}
