package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceBytes writes uncompressed records of 1 KiB to partition 0 of topic until about n bytes are written.
func produceBytes(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for written := 0; written < n; written += 100 * len(value) {
		recs := make([]*kgo.Record, 100)
		for i := range recs {
			recs[i] = &kgo.Record{Partition: 0, Value: value}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// The demo's embedded broker deletes old records, so the demo runs in flat memory: past its byte bound a
// partition keeps only its newest records, and records older than its retention time go.
func TestEmbeddedBrokerRetention(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		const bound = 256 << 10
		cluster, err := newEmbeddedBroker("t", 1, time.Hour, bound, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		produceBytes(t, cluster.ListenAddrs(), "t", 8*bound)
		waitFor(t, "the partition trimmed to its byte bound", func() bool {
			p := cluster.PartitionInfo("t", 0)
			return p.LogStartOffset > 0 && p.NumBytes <= bound
		})
	})
	t.Run("time", func(t *testing.T) {
		cluster, err := newEmbeddedBroker("t", 1, 200*time.Millisecond, 1<<30, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		produceBytes(t, cluster.ListenAddrs(), "t", 100<<10)
		waitFor(t, "every record past its retention deleted", func() bool {
			p := cluster.PartitionInfo("t", 0)
			return p.HighWatermark > 0 && p.LogStartOffset == p.HighWatermark && p.NumBytes == 0
		})
	})
}

var kafkaLineRE = regexp.MustCompile(`(?m)^  kafka      (\S+) \(the embedded broker, topic (\S+), keeping (\S+) of records\)$`)

// demo prints its embedded broker's address and retention, and the broker it runs deletes the records past
// --broker-retention while the simulated exchange writes.
func TestDemoBrokerRetention(t *testing.T) {
	var stdout testkit.Buffer
	_, stop := runInBackgroundOut(t, &stdout, "demo", "--listen", "127.0.0.1:0", "--rate", "400", "--symbols", "2",
		"--broker-retention", "1s", "--log-level", "warn")
	defer stop()
	var m []string
	waitFor(t, "the kafka line", func() bool { m = kafkaLineRE.FindStringSubmatch(stdout.String()); return m != nil })
	if m[2] != topic || m[3] != "1s" {
		t.Fatalf("kafka line %q, want topic %s kept 1s", m[0], topic)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// A partition whose earliest offset is past 0 has had records deleted.
	waitFor(t, "a partition's first records deleted", func() bool {
		starts := startOffsets(t, cl, topic)
		for _, o := range starts {
			if o > 0 {
				return true
			}
		}
		return false
	})
}

// startOffsets lists the earliest offset of partitions 0, 1 and 2 of topic (the demo's three).
func startOffsets(t *testing.T, cl *kgo.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = -2 // earliest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	out := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

// runLogged runs a command in the background with its stdout and stderr kept, until the test ends or stop.
func runLogged(t *testing.T, args ...string) (stdout, stderr *testkit.Buffer, stop func()) {
	t.Helper()
	stdout, stderr = &testkit.Buffer{}, &testkit.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, args, stdout, stderr)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Errorf("%v did not stop", args)
		}
	}
	t.Cleanup(stop)
	return stdout, stderr, stop
}

// demo binds its listen port before anything else: on a busy port it fails at once, saying so, without
// starting a broker or an exchange.
func TestDemoBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	code, _, stderr := runToEnd(t, "demo", "--listen", ln.Addr().String(), "--log-level", "info")
	if code != 1 || !strings.HasPrefix(stderr, "depthcast demo: listen tcp "+ln.Addr().String()+": bind: address already in use") ||
		!strings.Contains(stderr, "--listen") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and the busy port first", code, stderr)
	}
	if strings.Contains(stderr, "broker") || strings.Contains(stderr, "sim") {
		t.Errorf("a broker or the exchange started before the port was found busy:\n%s", stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to fail", d)
	}
}

// demo --record says where it records, on stdout with the URLs and in the log; a replay node, reading no
// Kafka, logs no brokers or topic.
func TestDemoRecordSaysWhere(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	stdout, stderr, stop := runLogged(t, "demo", "--listen", "127.0.0.1:0", "--rate", "200", "--symbols", "2", "--record", dir, "--flush-interval", "50ms")
	want := "  recording  " + dir + " (what the node reads; depthcast replay --in " + dir + " plays it back)\n"
	waitFor(t, "the recording line", func() bool { return strings.Contains(stdout.String(), want) })
	if !strings.Contains(stderr.String(), `msg="recording what the node reads" dir=`+dir) {
		t.Errorf("log does not say where the demo records:\n%s", stderr.String())
	}
	waitFor(t, "a block recorded", func() bool {
		_, code := runToEndCode(t, "recording", "verify", dir)
		return code == 0
	})
	stop()

	_, rstderr, rstop := runLogged(t, "replay", "--in", dir, "--listen", "127.0.0.1:0", "--log-level", "info")
	waitFor(t, "the replay node listening", func() bool { return strings.Contains(rstderr.String(), "depthcast listening") })
	rstop()
	if s := rstderr.String(); strings.Contains(s, "brokers=") || strings.Contains(s, "topic=") {
		t.Errorf("a replay node logs brokers or a topic:\n%s", s)
	}
}

// runToEndCode is runToEnd's stdout and exit code.
func runToEndCode(t *testing.T, args ...string) (string, int) {
	t.Helper()
	code, stdout, _ := runToEnd(t, args...)
	return stdout, code
}

// In normal operation the demo logs nothing at warn or above: its own broker gives its readers and the
// exchange no timeouts or errors to report while 10,000 events go through at the default rate.
func TestDemoQuietLog(t *testing.T) {
	stdout, stderr, stop := runLogged(t, "demo", "--listen", "127.0.0.1:0", "--log-level", "warn")
	var addr string
	waitFor(t, "the demo serving", func() bool {
		m := servingRE.FindStringSubmatch(stdout.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	waitFor(t, "10,000 events through the node", func() bool {
		code, body := httpGet(t, addr, "/v1/symbols")
		var v struct{ Symbols []struct{ Seq int } }
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			return false
		}
		n := 0
		for _, s := range v.Symbols {
			n += s.Seq
		}
		return n >= 10000
	})
	stop()
	if s := stderr.String(); s != "" {
		t.Errorf("the demo logged at warn or above:\n%s", s)
	}
}

// demo prints its URLs, its broker and its exchange's symbols, each on a line of its own kind.
func TestDemoPrintsWhatItRuns(t *testing.T) {
	var stdout testkit.Buffer
	_, stop := runInBackgroundOut(t, &stdout, "demo", "--listen", "127.0.0.1:0", "--rate", "100", "--symbols", "2", "--log-level", "warn")
	defer stop()
	waitFor(t, "the exchange line", func() bool { return strings.Contains(stdout.String(), "Ctrl-C stops.") })
	out := stdout.String()
	for _, re := range []string{`(?m)^  symbols    http://\S+/v1/symbols$`, `(?m)^  kafka      \S+ \(the embedded broker`,
		`(?m)^  exchange   2 simulated symbols: BTC-USD ETH-USD$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("demo's output does not match %s:\n%s", re, out)
		}
	}
	if n := strings.Count(out, "  symbols "); n != 1 {
		t.Errorf("%d lines labelled symbols:\n%s", n, out)
	}
}
