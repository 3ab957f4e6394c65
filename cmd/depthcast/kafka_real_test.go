package main

// The real-Kafka suite: the node against Apache Kafka in KRaft mode (scripts/kafka.sh), every book checked
// through the wire contract by a WebSocket client (prev_seq chain, checksum of the top levels, whole book
// against the simulated exchange). It runs when DEPTHCAST_KAFKA_BROKERS (one node) names a cluster, and
// the failover scenarios when DEPTHCAST_KAFKA_BROKERS3 names a three-node one; with CI=true a missing
// cluster is a failure. scripts/test.sh starts both.

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
func realNode(t *testing.T, brokers []string, topic, start string) (*nodetest.Node, func()) {
	t.Helper()
	return startNode(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic, Start: start}})
}

func waitReady(t *testing.T, m *nodetest.Node) {
	t.Helper()
	testkit.WaitFor(t, 2*time.Minute, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
}

func subscribeBooks(t *testing.T, m *nodetest.Node, syms []string) *wsClient {
	t.Helper()
	c := dialWS(t, m.Addr())
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

// Every codec, every partition, no consumer group: five producers, one per codec (none, gzip, snappy, lz4,
// zstd), each writing its own symbols keyed with murmur2 into a 3-partition topic; a node started at
// earliest turns ready at the start high watermarks and its client's books equal the exchange's, through
// history and live flow.
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
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
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
}

// Records from the Java producer (kafka-console-producer from the Kafka jars, keyed by symbol, lz4) and
// from librdkafka (kcat, zstd) are read like franz-go's: both clients hash keys with murmur2.
func TestKafkaJavaAndKcatProducers(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	x := newExchange(t, 4, 22)
	syms := x.Symbols()
	keys, values := events(x, 1500)
	var in bytes.Buffer
	for i := range keys {
		in.WriteString(keys[i] + "\t" + string(values[i]) + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", kafkaScript(t), "class", "org.apache.kafka.tools.ConsoleProducer",
		"--bootstrap-server", strings.Join(brokers, ","), "--topic", topic, "--compression-codec", "lz4",
		"--property", "parse.key=true", "--property", "key.separator=\t", "--producer-property", "acks=all")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kafka-console-producer: %v\n%s", err, out)
	}
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)

	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not installed (scripts/test.sh installs it)")
		}
		t.Skip("kcat not installed: apt-get install -y kcat")
	}
	keys, values = events(x, 1500)
	in.Reset()
	for i := range keys {
		in.WriteString(keys[i] + "\t" + string(values[i]) + "\n")
	}
	cmd = exec.CommandContext(ctx, kcat, "-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", "\t",
		"-z", "zstd", "-X", "partitioner=murmur2_random", "-X", "acks=all")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	waitBooks(t, c, x)
	if len(c.stale) != 0 {
		t.Errorf("stale for %v: a producer's partitioning broke a symbol's order", c.stale)
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
			m, _ := realNode(t, brokers, topic, start)
			waitReady(t, m)
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

// produceEvents writes the next n events of x.
func produceEvents(t *testing.T, cl *kgo.Client, x *sim.Exchange, n int) {
	t.Helper()
	keys, values := events(x, n)
	realProduce(t, cl, keys, values)
}

// A transactional producer commits some transactions and aborts others; the aborted ones hold records that
// would take the seq of the next real event of a symbol with a level of size 999 at price 1. Aborted
// records never reach a book (the books equal the exchange's, which never has that level) and the control
// markers of the transactions are skipped without a rejection or a gap.
func TestKafkaTransactions(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	x := newExchange(t, 3, 41)
	syms := x.Symbols()
	tx := realProducer(t, brokers, topic, kgo.TransactionalID(topic+".tx"), kgo.TransactionTimeout(30*time.Second))
	var all [][]byte
	for i := range 8 {
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
		} else {
			for _, s := range syms {
				keys = append(keys, s)
				values = append(values, fmt.Appendf(nil, `{"type":"delta","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","bids":[["1","999"]],"asks":[]}`, s, nextSeq(all, s)))
			}
		}
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
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	for _, s := range syms {
		if _, ok := c.books[s].bids["1"]; ok {
			t.Errorf("%s: the aborted level 1:999 is in the book", s)
		}
	}
	if len(c.stale) != 0 {
		t.Errorf("stale for %v: control markers or aborted records made a gap", c.stale)
	}
}

// Two nodes on the same cluster and topic send the same seqs and checksums for the same records: their
// clients' books agree symbol by symbol, seq and top levels. Then node 1 stops; its client dials node 2
// and its books carry on with an intact chain from a fresh snapshot.
func TestKafkaTwoNodes(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 4, 51)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1500)
	m1, stop1 := realNode(t, brokers, topic, "earliest")
	m2, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m1)
	waitReady(t, m2)
	c1, c2 := subscribeBooks(t, m1, syms), subscribeBooks(t, m2, syms)
	produceEvents(t, prod, x, 1000)
	waitBooks(t, c1, x)
	waitBooks(t, c2, x)
	for _, s := range syms {
		b1, b2 := c1.books[s], c2.books[s]
		if b1.seq != b2.seq || b1.top(10) != b2.top(10) {
			t.Errorf("%s: node 1 at seq %d %s, node 2 at seq %d %s", s, b1.seq, b1.top(10), b2.seq, b2.top(10))
		}
	}
	stop1()
	c3 := subscribeBooks(t, m2, syms)
	produceEvents(t, prod, x, 1000)
	waitBooks(t, c3, x)
	waitBooks(t, c2, x)
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
// an intact prev_seq chain (a record applied twice breaks the chain), no symbol turns stale, and the node
// stays ready.
func TestKafkaLeaderFailover(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS3")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 6, 61)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1500)
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
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
		produceEvents(t, prod, x, 1000) // through the election
		<-done
		produceEvents(t, prod, x, 500)
		waitBooks(t, c, x)
		t.Logf("%v to broker %d (leader of partition %d): books equal the exchange's %v later", sig, leader, i, time.Since(start).Round(time.Millisecond))
		if code, body := httpGet(t, m.Addr(), "/readyz"); code != http.StatusOK {
			t.Errorf("/readyz after the failover: %d %s", code, body)
		}
		restartNode(t, leader)
	}
	produceEvents(t, prod, x, 500)
	waitBooks(t, c, x)
	if len(c.stale) != 0 {
		t.Errorf("stale for %v during a leader failover", c.stale)
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
// the node serves: the node rides through the outage, then the flow written after it resumes without a
// gap and every book equals the exchange's.
func TestKafkaClusterRestart(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 3, 71)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1000)
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
	start := time.Now()
	signalNode(t, singleNode, syscall.SIGTERM)
	restartNode(t, singleNode)
	produceEvents(t, prod, x, 1000)
	waitBooks(t, c, x)
	t.Logf("cluster restarted and books caught up in %v", time.Since(start).Round(time.Millisecond))
	if len(c.stale) != 0 {
		t.Errorf("stale for %v after a clean cluster restart", c.stale)
	}
}

// Partitions added to the topic while a node serves are read without a restart: after the topic grows from
// 3 to 6 partitions, a new producer's records for symbols whose keys now hash to a new partition reach
// the books.
func TestKafkaPartitionsAdded(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 8, 81)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1000)
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
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
	produceEvents(t, grown, x, 2000)
	waitBooks(t, c, x)
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
	produceEvents(t, prod, x, 1000)
	m, _ := startNode(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{
		Brokers: brokers, Topic: topic, OutageTimeout: 3 * time.Second, PollInterval: 500 * time.Millisecond,
	}})
	waitReady(t, m)
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
	produceEvents(t, prod, x, 1500)
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
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, -1 // everything written so far
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, prod)
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
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	produceEvents(t, prod, x, 3000)
	waitFor(t, "every symbol to be known", func() bool { return len(symbolsStatus(t, m.Addr())) == len(syms) })
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
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

// A client of the client package connected to node 1 (through a balancer) moves to node 2 when node 1
// stops: it redials on 1001, node 2 continues each book from the seq the client holds, and the books keep
// an intact chain (no gap, no checksum mismatch) and end equal to the exchange's.
func TestKafkaClientMovesNodes(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 3, 52)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1000)
	m1, stop1 := realNode(t, brokers, topic, "earliest")
	m2, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m1)
	waitReady(t, m2)
	var to atomic.Value
	to.Store(m1.Addr())
	addr := switchProxy(t, &to)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, "ws://"+addr+"/ws", client.Config{ViewDepth: 0, MinBackoff: 50 * time.Millisecond})
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
	equal := func() bool {
		for _, s := range syms {
			v, ok := cl.Book(s, 0)
			if !ok || !v.ChecksumOK {
				return false
			}
			bids, asks := x.Book(s)
			if viewBook(v) != exchangeBook(bids, asks) {
				return false
			}
		}
		return true
	}
	testkit.WaitFor(t, 2*time.Minute, "the client's books on node 1", equal)
	to.Store(m2.Addr())
	stop1()
	produceEvents(t, prod, x, 1000)
	testkit.WaitFor(t, 2*time.Minute, "the client's books on node 2", equal)
	st := cl.Stats()
	t.Logf("client stats: %+v", st)
	if st.Connects < 2 || st.Gaps != 0 || st.Checksums != 0 {
		t.Errorf("stats %+v: want a reconnect and no gap or checksum mismatch", st)
	}
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

// A topic deleted and re-created while a node serves is a gap: the node reads the new topic from its start
// (offsets begin again at 0), the books turn stale, and they are live again at the new flow's snapshots.
func TestKafkaTopicRecreated(t *testing.T) {
	brokers := realKafka(t, "DEPTHCAST_KAFKA_BROKERS")
	topic := realTopic(t)
	prod := realProducer(t, brokers, topic)
	x := newExchange(t, 3, 97)
	syms := x.Symbols()
	produceEvents(t, prod, x, 1000)
	m, _ := realNode(t, brokers, topic, "earliest")
	waitReady(t, m)
	c := subscribeBooks(t, m, syms)
	waitBooks(t, c, x)
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
	produceEvents(t, fresh, x2, 1000)
	c.readUntil("status stale for every symbol", func() bool { return len(c.stale) >= len(syms) })
	waitBooks(t, c, x2)
}
