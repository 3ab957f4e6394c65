package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The ingest scenario: one partition of an in-process kfake broker is filled with n records (a snapshot of
// each of 100 symbols, then 1-2-level deltas of 100-200 bytes), then read from the start by:
//   - depthcast: ingest.Consumer (kafka-go partition reader, JSON decode, sequence checks, book apply) with
//     a feed.Server (no clients) as its Publisher, timed until Ready(), i.e. all records applied;
//   - kafka-go bare: a kafka-go partition reader with the same fetch settings and queue capacity,
//     FetchMessage in a loop;
//   - franz-go bare: a kgo client consuming the partition, PollFetches in a loop.
// All read over loopback TCP from the same broker in the same process.

// ingestTopic is the topic the ingest trials read: md.events on kfake, a fresh topic on a real cluster.
var ingestTopic = "md.events"

// broker is where a scenario's records are: a kfake cluster or a topic of a real one.
type broker struct {
	addrs []string
	close func()
}

func (b *broker) Close() { b.close() }

// fillTopic fills ingestTopic of a new kfake cluster, or of a fresh topic on the real cluster real.
func fillTopic(n int, real []string) (*broker, []string, error) {
	var cluster *broker
	if len(real) > 0 {
		name, drop, err := realTopic(real, "ingest")
		if err != nil {
			return nil, nil, err
		}
		ingestTopic = name
		cluster = &broker{addrs: real, close: drop}
	} else {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "md.events"))
		if err != nil {
			return nil, nil, err
		}
		ingestTopic = "md.events"
		cluster = &broker{addrs: kc.ListenAddrs(), close: kc.Close}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.addrs...), kgo.DefaultProduceTopic(ingestTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		cluster.Close()
		return nil, nil, err
	}
	defer prod.Close()
	syms := symbolNames(100)
	now := time.Now()
	ts := now.UTC().Format(time.RFC3339Nano)
	recs := make([]*kgo.Record, 0, 10000)
	flush := func() error {
		err := prod.ProduceSync(context.Background(), recs...).FirstErr()
		recs = recs[:0]
		return err
	}
	for _, s := range syms {
		recs = append(recs, &kgo.Record{Key: []byte(s), Value: snapshotRecord(s, 1, 20, ts), Timestamp: now})
	}
	g := newDeltaGen(syms, 1)
	var minLen, maxLen int
	for i := len(syms); i < n; i++ {
		d := g.next(now.Add(time.Duration(i) * time.Microsecond)) // a distinct event time per record, as upstream sends
		d.nlev = 1 + i%2
		v := d.record(nil)
		if minLen == 0 || len(v) < minLen {
			minLen = len(v)
		}
		maxLen = max(maxLen, len(v))
		recs = append(recs, &kgo.Record{Key: []byte(d.sym), Value: v, Timestamp: now})
		if len(recs) == cap(recs) {
			if err := flush(); err != nil {
				cluster.Close()
				return nil, nil, err
			}
		}
	}
	if err := flush(); err != nil {
		cluster.Close()
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "   ingest: %d records in the partition, deltas %d-%d bytes\n", n, minLen, maxLen)
	return cluster, syms, nil
}

type ingestTrial struct{ perSec, perCPU float64 }

func ingestDepthcast(brokers []string, n int) (ingestTrial, error) {
	// The consumer publishes to a feed's Hub, as in a node; nobody subscribes.
	hub, err := feed.NewHub(feed.HubConfig{})
	if err != nil {
		return ingestTrial{}, err
	}
	cons, err := ingest.New(ingest.Config{Brokers: brokers, Topic: ingestTopic, Start: kafkatopic.Earliest, Logger: quietLogger}, hub)
	if err != nil {
		return ingestTrial{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := startWindow()
	go func() { defer close(done); _ = cons.Run(ctx) }()
	deadline := time.Now().Add(120 * time.Second)
	for !cons.Ready() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			return ingestTrial{}, fmt.Errorf("depthcast not caught up after 120s")
		}
		time.Sleep(time.Millisecond)
	}
	w.stop()
	cancel()
	<-done
	return ingestTrial{perSec: float64(n) / w.wall.Seconds(), perCPU: float64(n) / w.cpu.Seconds()}, nil
}

// baselineQueueCapacity is the QueueCapacity of the baseline's kafka-go Reader: large enough that its
// prefetching never waits on the loop that drains it.
const baselineQueueCapacity = 4096

func ingestKafkaGo(brokers []string, n int) (ingestTrial, error) {
	cfg := ingest.Config{}.WithDefaults()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: ingestTopic, Partition: 0, MinBytes: cfg.MinBytes,
		MaxBytes: cfg.MaxBytes, MaxWait: cfg.MaxWait, QueueCapacity: baselineQueueCapacity, ReadLagInterval: -1})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		return ingestTrial{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := startWindow()
	for i := 0; i < n; i++ {
		if _, err := r.FetchMessage(ctx); err != nil {
			return ingestTrial{}, err
		}
	}
	w.stop()
	return ingestTrial{perSec: float64(n) / w.wall.Seconds(), perCPU: float64(n) / w.cpu.Seconds()}, nil
}

func ingestFranz(brokers []string, n int) (ingestTrial, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{ingestTopic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return ingestTrial{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	w := startWindow()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return ingestTrial{}, err
		}
		got += fs.NumRecords()
	}
	w.stop()
	return ingestTrial{perSec: float64(n) / w.wall.Seconds(), perCPU: float64(n) / w.cpu.Seconds()}, nil
}

func runIngest(o *options, rep *report) error {
	if err := runIngestOn(o, rep, nil); err != nil {
		return err
	}
	if len(o.kafka) > 0 {
		return runIngestOn(o, rep, o.kafka)
	}
	return nil
}

// runIngestOn runs the ingest scenario on kfake (real empty) or on the real cluster real.
func runIngestOn(o *options, rep *report, real []string) error {
	n := o.n(200_000, 1_000_000)
	cluster, _, err := fillTopic(n, real)
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.addrs
	scenario, where := "ingest", "an in-process kfake broker (the broker's CPU is in the per-CPU-s figures)"
	if len(real) > 0 {
		scenario, where = "ingest (Apache Kafka "+kafkaVersion+")", "Apache Kafka "+kafkaVersion+" on loopback (scripts/kafka.sh; the broker's CPU is not in the per-CPU-s figures)"
	}
	kinds := []struct {
		name string
		run  func([]string, int) (ingestTrial, error)
	}{{"depthcast", ingestDepthcast}, {"kafka-go bare", ingestKafkaGo}, {"franz-go bare", ingestFranz}}
	vals, cpus := map[string][]float64{}, map[string][]float64{}
	for r := 0; r < o.rounds; r++ {
		for _, k := range kinds {
			t, err := k.run(brokers, n)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			fmt.Fprintf(os.Stderr, "   ingest %-14s %s records/s, %s records/CPU-s\n", k.name, fmtNum(t.perSec), fmtNum(t.perCPU))
			vals[k.name] = append(vals[k.name], t.perSec)
			cpus[k.name] = append(cpus[k.name], t.perCPU)
		}
	}
	if o.profile && len(real) == 0 {
		path := filepath.Join(o.outDir, "ingest.cpu.pprof")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		t, err := ingestDepthcast(brokers, n)
		pprof.StopCPUProfile()
		f.Close()
		if err != nil {
			return fmt.Errorf("depthcast (profiled): %w", err)
		}
		rep.note("ingest profile (extra depthcast trial, not in the medians): %s records/s under the profiler, written to %s", fmtNum(t.perSec), path)
	}
	v, kg := median(vals["depthcast"]), median(vals["kafka-go bare"])
	note := fmt.Sprintf("%d records from one partition of %s; depthcast timed to Ready() = all applied", n, where)
	rep.add(Row{Scenario: scenario, Metric: "records/s", Value: v, Unit: "rec/s", Baseline: "kafka-go bare loop", BaselineValue: kg,
		PerCPUSecond: median(cpus["depthcast"]), BaselinePerCPU: median(cpus["kafka-go bare"]), Trials: vals["depthcast"],
		BaselineTrials: vals["kafka-go bare"], Target: "≥ 500k/s and ≥ 50% of bare", Pass: boolp(v >= 500_000 && kg > 0 && v/kg >= 0.5), Notes: note})
	rep.add(Row{Scenario: scenario, Metric: "records/s", Value: v, Unit: "rec/s", Baseline: "franz-go bare loop", BaselineValue: median(vals["franz-go bare"]),
		PerCPUSecond: median(cpus["depthcast"]), BaselinePerCPU: median(cpus["franz-go bare"]), Trials: vals["depthcast"], BaselineTrials: vals["franz-go bare"]})
	return nil
}
