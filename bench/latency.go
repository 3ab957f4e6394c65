package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/node"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The latency scenario: an in-process Kafka-protocol broker (kfake, over real loopback TCP), a franz-go
// producer at a fixed rate, depthcast as in production (ingest.Consumer with kafka-go partition readers →
// books → feed.Server behind net/http), and 1k WebSocket clients. Each delta's "time" field is the
// producer's clock when the record was made (the record timestamp is the same instant, cut to ms by
// Kafka); a client subtracts it from the time its read returned.

// latTopic is the topic of a latency trial: md.events on kfake, a fresh topic on a real cluster.
var latTopic = "md.events"

// latLayout is one latency configuration: rate updates/s spread evenly over symbols, clients subscribed
// to one symbol each (clients/symbols per symbol), so perSymbol×rate messages/s reach the clients.
type latLayout struct {
	name    string
	rate    float64
	symbols int
	clients int
	target  bool     // the row the targets apply to
	real    []string // a real Apache Kafka cluster instead of kfake (the -kafka flag)
}

func (l latLayout) perSymbol() int      { return l.clients / l.symbols }
func (l latLayout) deliveries() float64 { return l.rate * float64(l.perSymbol()) }

// latLayouts are the configurations measured. The target's reading of "50k updates/s into 1k clients":
// 50k updates/s arrive, and each reaches the client that follows its symbol (1000 symbols, one client
// each): 50k messages/s out. The ×4 row puts 4 clients on each of 250 symbols, so the same 50k updates/s
// become 200k messages/s, one frame per write (a client gets one update every 5 ms, nothing to coalesce):
// that is past what one write(2) per frame reaches on 2 cores shared with the clients and the broker.
var latLayouts = []latLayout{
	{name: "latency/50k", rate: 50000, symbols: 1000, clients: 1000, target: true},
	{name: "latency/5k", rate: 5000, symbols: 1000, clients: 1000},
	{name: "latency/50k×4", rate: 50000, symbols: 250, clients: 1000},
}

// kafkaFeed is depthcast reading a kfake broker.
type kafkaFeed struct {
	closeBroker func() // the kfake cluster's Close, or the real cluster's topic deletion
	prod        *kgo.Client
	node        *node.Node
	cancel      context.CancelFunc
	failed      atomic.Int64 // produce errors
	// gen carries each symbol's seq from one trial to the next: a generator started afresh would repeat
	// seqs the books have applied, and the pipeline would skip every delta as a duplicate.
	gen *deltaGen
	// leg holds the Kafka leg's samples: when a record reached the pipeline minus its "time" field.
	leg legTap
}

// legTap is an engine.Tap that samples the Kafka leg of the latency: record made → record submitted to
// the pipeline by its partition reader (after kafka-go's fetch, before decode and apply).
type legTap struct {
	on  atomic.Bool
	mu  sync.Mutex
	lat []int64
	ack []int64 // record made → the broker's produce ack seen by the producer
}

func (t *legTap) Tap(_ context.Context, rec engine.Record) error {
	if !t.on.Load() {
		return nil
	}
	now := time.Now().UnixNano()
	tf, ok := timeField(rec.Value)
	if !ok {
		return nil
	}
	ts, ok := parseUTC(tf)
	if !ok {
		return nil
	}
	t.mu.Lock()
	t.lat = append(t.lat, now-ts)
	t.mu.Unlock()
	return nil
}

func (t *legTap) take() []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.lat
	t.lat = nil
	return out
}

func startKafkaFeed(syms []string, real []string) (*kafkaFeed, error) {
	k := &kafkaFeed{}
	var addrs []string
	if len(real) > 0 {
		name, drop, err := realTopic(real, "latency")
		if err != nil {
			return nil, err
		}
		latTopic, addrs, k.closeBroker = name, real, drop
	} else {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "md.events"))
		if err != nil {
			return nil, err
		}
		latTopic, addrs, k.closeBroker = "md.events", kc.ListenAddrs(), kc.Close
	}
	var err error
	if k.prod, err = kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(latTopic), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner())); err != nil {
		k.closeBroker()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	now := time.Now()
	var recs []*kgo.Record
	for _, s := range syms {
		recs = append(recs, &kgo.Record{Key: []byte(s), Value: snapshotRecord(s, 1, 50, now.UTC().Format(time.RFC3339Nano)), Timestamp: now})
	}
	if err := k.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		k.close()
		return nil, fmt.Errorf("produce snapshots: %w", err)
	}
	if k.node, err = startNode(node.Config{Ingest: ingest.Config{Brokers: addrs, Topic: latTopic,
		Start: kafkatopic.Earliest, Books: engine.Config{Tap: &k.leg}}}); err != nil {
		k.close()
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for !k.node.Ready() {
		if time.Now().After(deadline) {
			k.close()
			return nil, fmt.Errorf("consumer not ready after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return k, nil
}

func (k *kafkaFeed) close() {
	if k.node != nil {
		_ = k.node.Close()
	}
	if k.cancel != nil {
		k.cancel()
	}
	if k.prod != nil {
		k.prod.Close()
	}
	k.closeBroker()
}

// produceAt produces deltas at rate records/s until stop is closed; it returns how many it produced.
func (k *kafkaFeed) produceAt(syms []string, rate float64, stop <-chan struct{}) int64 {
	if k.gen == nil {
		k.gen = newDeltaGen(syms, 1)
	}
	g := k.gen
	var buf []byte
	start := time.Now()
	var sent int64
	cb := func(r *kgo.Record, err error) {
		if err != nil {
			k.failed.Add(1)
			return
		}
		if k.leg.on.Load() {
			d := time.Since(r.Timestamp)
			k.leg.mu.Lock()
			k.leg.ack = append(k.leg.ack, int64(d))
			k.leg.mu.Unlock()
		}
	}
	for {
		select {
		case <-stop:
			return sent
		default:
		}
		due := int64(time.Since(start).Seconds() * rate)
		for sent < due {
			now := time.Now()
			d := g.next(now)
			buf = d.record(buf[:0])
			k.prod.Produce(context.Background(), &kgo.Record{Key: []byte(d.sym), Value: append([]byte(nil), buf...), Timestamp: now}, cb)
			sent++
		}
		time.Sleep(200 * time.Microsecond)
	}
}

type latTrial struct {
	st        latencyStats
	leg       latencyStats // the Kafka leg: record made → submitted to the pipeline
	ack       latencyStats // record made → the producer saw the broker's ack
	produced  int64
	delivered float64 // msgs/s to clients
	cores     float64
}

func (k *kafkaFeed) latencyTrial(clients []*wsClient, sink *latencySink, syms []string, rate float64, warm, dur time.Duration, profile string) latTrial {
	stop := make(chan struct{})
	var produced int64
	var wg sync.WaitGroup
	wg.Go(func() { produced = k.produceAt(syms, rate, stop) })
	time.Sleep(warm)
	for _, c := range clients {
		c.takeLatencies()
	}
	if profile != "" {
		if f, err := os.Create(profile); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	m0, _ := sumMsgs(clients)
	k.leg.take()
	sink.on.Store(true)
	k.leg.on.Store(true)
	w := startWindow()
	time.Sleep(dur)
	sink.on.Store(false)
	k.leg.on.Store(false)
	w.stop()
	m1, _ := sumMsgs(clients)
	close(stop)
	wg.Wait()
	// Let the backlog drain (up to 15 s) so the next trial starts from an idle pipeline.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		a, _ := sumMsgs(clients)
		time.Sleep(100 * time.Millisecond)
		if b, _ := sumMsgs(clients); a == b {
			break
		}
	}
	k.leg.mu.Lock()
	ack := summarize(k.leg.ack)
	k.leg.ack = nil
	k.leg.mu.Unlock()
	fmt.Fprintf(os.Stderr, "   (trial at %.0f/s: produced %d, produce errors so far %d, delivered in window %d)\n", rate, produced, k.failed.Load(), m1-m0)
	var all []int64
	for _, c := range clients {
		all = append(all, c.takeLatencies()...)
	}
	return latTrial{st: summarize(all), leg: summarize(k.leg.take()), ack: ack, produced: produced, delivered: float64(m1-m0) / w.wall.Seconds(), cores: w.cpu.Seconds() / w.wall.Seconds()}
}

// latencyRig is a fresh broker, feed and n clients, the i-th subscribed to syms[i%len(syms)].
func latencyRig(syms []string, n int, real []string) (*kafkaFeed, []*wsClient, *latencySink, error) {
	k, err := startKafkaFeed(syms, real)
	if err != nil {
		return nil, nil, nil, err
	}
	sink := &latencySink{every: 1}
	o2 := &clientOpts{subscribe: func(i int) []byte { return subscribeMsg([]string{syms[i%len(syms)]}, 0) }, lat: sink, bufSize: 16 << 10}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clients, err := dialAll(ctx, k.node.Addr(), n, o2)
	if err != nil {
		k.close()
		return nil, nil, nil, err
	}
	if err := waitMsgs(ctx, clients, 2, 30*time.Second); err != nil {
		closeAll(clients)
		k.close()
		return nil, nil, nil, err
	}
	return k, clients, sink, nil
}

func runLatency(o *options, rep *report) error {
	warm, dur := o.scale(300*time.Millisecond, 2*time.Second), o.scale(time.Second, 10*time.Second)
	type acc struct{ p50, p99, p999, max, rate, cores, leg50, leg99, ack50, ack99 []float64 }
	latLayouts := latLayouts
	if len(o.kafka) > 0 {
		for _, l := range latLayouts {
			if l.name == "latency/5k" {
				l.name, l.real, l.target = l.name+" (Apache Kafka "+kafkaVersion+")", o.kafka, false
				latLayouts = append(slices.Clip(latLayouts), l)
				break
			}
		}
	}
	res := make([]acc, len(latLayouts))
	// A fresh broker, feed and clients for every trial: a trial that falls behind leaves a backlog that
	// must not leak into the next one.
	for r := 0; r < o.rounds; r++ {
		for i, l := range latLayouts {
			syms := symbolNames(l.symbols)
			k, clients, sink, err := latencyRig(syms, l.clients, l.real)
			if err != nil {
				return err
			}
			t := k.latencyTrial(clients, sink, syms, l.rate, warm, dur, "")
			closeAll(clients)
			k.close()
			a := &res[i]
			a.p50, a.p99, a.p999, a.max = append(a.p50, ms(t.st.P50)), append(a.p99, ms(t.st.P99)), append(a.p999, ms(t.st.P999)), append(a.max, ms(t.st.Max))
			a.rate, a.cores = append(a.rate, t.delivered), append(a.cores, t.cores)
			a.leg50, a.leg99 = append(a.leg50, ms(t.leg.P50)), append(a.leg99, ms(t.leg.P99))
			a.ack50, a.ack99 = append(a.ack50, ms(t.ack.P50)), append(a.ack99, ms(t.ack.P99))
			fmt.Fprintf(os.Stderr, "   %s: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.1f ms (%d samples); Kafka leg p50 %.3f p99 %.3f ms (produce ack p50 %.3f p99 %.3f ms); %s msgs/s delivered (of %s offered), %.2f cores\n",
				l.name, ms(t.st.P50), ms(t.st.P99), ms(t.st.P999), ms(t.st.Max), t.st.N, ms(t.leg.P50), ms(t.leg.P99), ms(t.ack.P50), ms(t.ack.P99), fmtNum(t.delivered), fmtNum(l.deliveries()), t.cores)
		}
	}
	rtt := loopbackRTT(o.n(5000, 50000))
	rttMS := ms(rtt.P50)
	for i, l := range latLayouts {
		a := res[i]
		note := fmt.Sprintf("%d clients, %d symbols, %d client(s) per symbol, %s upd/s: %s of %s msgs/s delivered, %.2f CPU cores busy (broker, producer, feed and clients in one process); max %.1f ms",
			l.clients, l.symbols, l.perSymbol(), fmtNum(l.rate), fmtNum(median(a.rate)), fmtNum(l.deliveries()), median(a.cores), median(a.max))
		var p50t, p99t, p999t *bool
		var t50, t99, t999 string
		if l.target {
			p50t, p99t, p999t = boolp(median(a.p50) <= 1), boolp(median(a.p99) <= 5), boolp(median(a.p999) <= 20)
			t50, t99, t999 = "≤ 1 ms", "≤ 5 ms", "≤ 20 ms"
		}
		rep.add(Row{Scenario: l.name, Metric: "p50", Value: median(a.p50), Unit: "ms", Baseline: "loopback TCP RTT p50", BaselineValue: rttMS,
			Trials: a.p50, Target: t50, Pass: p50t, Notes: note})
		rep.add(Row{Scenario: l.name, Metric: "p99", Value: median(a.p99), Unit: "ms", Trials: a.p99, Target: t99, Pass: p99t})
		rep.add(Row{Scenario: l.name, Metric: "p99.9", Value: median(a.p999), Unit: "ms", Trials: a.p999, Target: t999, Pass: p999t})
		rep.add(Row{Scenario: l.name, Metric: "Kafka leg p50 / p99", Value: median(a.leg50), Unit: "ms", Baseline: "p99", BaselineValue: median(a.leg99),
			Trials: a.leg50, BaselineTrials: a.leg99,
			Notes: "record made by the producer → handed to the pipeline by its kafka-go partition reader (producer, broker and fetch; before decode, book and fan-out)"})
		rep.add(Row{Scenario: l.name, Metric: "produce ack p50 / p99", Value: median(a.ack50), Unit: "ms", Baseline: "p99", BaselineValue: median(a.ack99),
			Trials: a.ack50, BaselineTrials: a.ack99,
			Notes: "record made → the franz-go producer's callback for the broker's ack: the rig's producer and broker, not depthcast"})
	}
	rep.add(Row{Scenario: "latency", Metric: "loopback RTT p50 / p99", Value: rttMS, Unit: "ms", Baseline: "p99", BaselineValue: ms(rtt.P99),
		Notes: "170-byte ping-pong over one loopback TCP connection in this process"})
	if o.profile {
		l := latLayouts[0]
		syms := symbolNames(l.symbols)
		k, clients, sink, err := latencyRig(syms, l.clients, nil)
		if err != nil {
			return err
		}
		path := filepath.Join(o.outDir, "latency-50k.cpu.pprof")
		t := k.latencyTrial(clients, sink, syms, l.rate, 300*time.Millisecond, o.scale(3*time.Second, 8*time.Second), path)
		closeAll(clients)
		k.close()
		rep.note("latency profile (extra %s trial, not in the medians): p50 %.3f ms, p99 %.3f ms under the profiler, written to %s", l.name, ms(t.st.P50), ms(t.st.P99), path)
	}
	return nil
}

// loopbackRTT measures n round trips of a 170-byte message over one loopback TCP connection.
func loopbackRTT(n int) latencyStats {
	ln, err := listenLoopback()
	if err != nil {
		return latencyStats{}
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return latencyStats{}
	}
	defer c.Close()
	msg := make([]byte, 170)
	buf := make([]byte, 170)
	out := make([]int64, 0, n)
	for i := 0; i < n+100; i++ {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			break
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			break
		}
		if i >= 100 {
			out = append(out, int64(time.Since(t0)))
		}
	}
	return summarize(out)
}
