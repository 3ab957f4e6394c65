package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kfake"
)

func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("demo", "demo [flags]",
		"Runs the whole pipeline in one process: an in-process Kafka-protocol broker, a simulated exchange writing\n"+
			"order flow into it, and the feed reading it back over TCP with the same code as serve.", stderr)
	var lf logFlags
	var ff feedFlags
	var sf simFlags
	var gf guardFlags
	lf.register(fs)
	ff.register(fs, "127.0.0.1:8080")
	sf.register(fs)
	gf.register(fs)
	topic := fs.String("topic", kafkatopic.DefaultTopic, "topic inside the embedded broker")
	partitions := fs.Int("topic-partitions", 3, "partitions of the topic inside the embedded broker")
	retention := fs.Duration("broker-retention", demoRetention, "how long the embedded broker keeps records (at most "+
		strconv.Itoa(demoRetentionBytes>>20)+" MiB per partition); the simulated exchange re-snapshots every book well within it")
	var maxLevels int
	registerMaxBookLevels(fs, &maxLevels)
	recordDir := fs.String("record", "", "also record the stream the node reads into this directory (see depthcast record)")
	var rf recorderFlags
	rf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	scfg, err := sf.config()
	if err != nil {
		return usageError{err}
	}
	if *retention <= 0 {
		return usageError{fmt.Errorf("--broker-retention %v: want a positive duration", *retention)}
	}
	if *partitions < 1 {
		return usageError{fmt.Errorf("--topic-partitions %d: want at least 1", *partitions)}
	}
	if err := scfg.Validate(); err != nil {
		return usageError{err}
	}
	x, err := sim.New(scfg)
	if err != nil {
		return usageError{err}
	}

	tlsCfg, err := loadTLS(gf.tlsCert, gf.tlsKey)
	if err != nil {
		return usageError{err}
	}
	fcfg := ff.config()
	fcfg.Guard = gf.config()
	if err := fcfg.Validate(); err != nil {
		return usageError{err}
	}

	// The port first: a busy one fails at once, before a broker or an exchange is started.
	ln, err := net.Listen("tcp", ff.listen)
	if err != nil {
		return fmt.Errorf("%w (another process serves there: stop it or choose another --listen)", err)
	}
	defer ln.Close()

	cluster, err := newEmbeddedBroker(*topic, *partitions, *retention, demoRetentionBytes, min(demoCleanEvery, max(*retention/4, 100*time.Millisecond)))
	if err != nil {
		return fmt.Errorf("embedded broker: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	log.Info("embedded Kafka-protocol broker listening", "addr", brokers[0], "topic", *topic,
		"retention", retention.String(), "retention_bytes_per_partition", demoRetentionBytes)

	icfg := ingest.Config{Brokers: brokers, Topic: *topic, Start: kafkatopic.Earliest, Books: engine.Config{MaxBookLevels: maxLevels}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	recAbs := *recordDir
	if *recordDir != "" {
		if abs, aerr := filepath.Abs(*recordDir); aerr == nil {
			recAbs = abs
		}
		log.Info("recording what the node reads", "dir", recAbs)
		rec, wait, rerr := startRecording(ctx, cancel, rf.config(*recordDir, log.With("component", "recorder")), time.Time{}, &icfg)
		if rerr != nil {
			return rerr
		}
		defer func() {
			cancel(nil)
			wait()
			if cerr := rec.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	ncfg := node.Config{Listen: ff.listen, Hub: ff.hubConfig(), Listener: ln, ShutdownTimeout: ff.shutdownTimeout, Ingest: icfg, Feed: fcfg, Logger: log, TLS: tlsCfg}
	if err := ncfg.Validate(); err != nil {
		return usageError{err}
	}
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := sim.Run(simCtx, x, sim.WriterConfig{Brokers: brokers, Topic: *topic, Rate: sf.rate, Logger: log.With("component", "sim")})
		if err != nil && simCtx.Err() == nil {
			log.Error("simulated exchange stopped", "err", err)
		}
	}()
	err = runNode(ctx, ncfg, nil, log, stdout, func(w io.Writer, _ *node.Node) {
		fmt.Fprintf(w, "  kafka      %s (the embedded broker, topic %s, keeping %s of records)\n", brokers[0], *topic, *retention)
		if *recordDir != "" {
			fmt.Fprintf(w, "  recording  %s (what the node reads; depthcast replay --in %s plays it back)\n", recAbs, *recordDir)
		}
		fmt.Fprintf(w, "  exchange   %d simulated symbols: %s\n\nCtrl-C stops.\n", len(x.Symbols()), strings.Join(x.Symbols(), " "))
	})
	stopSim()
	wg.Wait()
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the recording failed
	}
	return err
}

// The embedded broker's retention: records older than demoRetention, or past demoRetentionBytes per
// partition, are deleted every demoCleanEvery, in segments of demoSegmentBytes, so the demo runs for days in
// flat memory.
const (
	demoRetention      = 2 * time.Minute
	demoRetentionBytes = 16 << 20
	demoSegmentBytes   = 1 << 20
	demoCleanEvery     = 10 * time.Second
)

// newEmbeddedBroker starts the demo's one-node Kafka-protocol broker with topic's partitions, deleting
// records older than retention or past retentionBytes per partition every cleanEvery.
func newEmbeddedBroker(topic string, partitions int, retention time.Duration, retentionBytes int64, cleanEvery time.Duration) (*kfake.Cluster, error) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": strconv.FormatInt(cleanEvery.Milliseconds(), 10)}))
	if err != nil {
		return nil, err
	}
	err = cluster.CreateTopic(topic, int32(partitions), map[string]string{
		"retention.ms":    strconv.FormatInt(retention.Milliseconds(), 10),
		"retention.bytes": strconv.FormatInt(retentionBytes, 10),
		"segment.bytes":   strconv.FormatInt(min(demoSegmentBytes, max(retentionBytes/4, 1024)), 10),
	})
	if err != nil {
		cluster.Close()
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	return cluster, nil
}

// wsScheme is the WebSocket URL scheme of a listener with or without TLS.
func wsScheme(tls bool) string {
	if tls {
		return "wss"
	}
	return "ws"
}

// runNode builds the node of cfg, traced as the OTEL_* environment asks (telemetry.go), and runs it until
// ctx ends, reloading keys on SIGHUP (none when keys is nil). Once the node listens it prints its URLs to
// stdout, then what more writes (when not nil).
func runNode(ctx context.Context, cfg node.Config, keys *auth.KeyStore, log *slog.Logger, stdout io.Writer, more func(w io.Writer, n *node.Node)) error {
	tp, stopTracing, err := newTracerProvider(ctx)
	if err != nil {
		return err
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}()
	cfg.TracerProvider = tp
	n, err := node.New(cfg)
	if err != nil {
		return usageError{err}
	}
	stopReload := reloadOnHUP(ctx, keys, log)
	defer stopReload()
	go func() {
		select {
		case <-n.Started():
			printURLs(stdout, n.Addr(), n.TLS())
			if more != nil {
				more(stdout, n)
			}
		case <-ctx.Done():
		}
	}()
	return n.Run(ctx)
}

func printURLs(w io.Writer, addr string, tls bool) {
	h, ws := "http", wsScheme(tls)
	if tls {
		h = "https"
	}
	fmt.Fprintf(w, "depthcast is serving on %s\n  dashboard  %s://%s/\n  websocket  %s://%s/ws\n  symbols    %s://%s/v1/symbols\n  book       %s://%s/v1/book/{symbol}?depth=10\n  metrics    %s://%s/metrics\n",
		addr, h, addr, ws, addr, h, addr, h, addr, h, addr)
}
