// Command bench is depthcast's benchmark harness: every scenario of the performance issue, each beside its
// baseline(s) in the same run, trials alternating contender and baseline, medians reported as a markdown
// table and a JSON file. See bench/README.md.
//
//	go run ./bench            # full run
//	go run ./bench -quick     # under two minutes
//	go run ./bench -only fanout,book
//
// depthcast runs in it as it runs in production, a node built by package node (servers.go). Beside it the
// harness carries code of its own on purpose: the baselines (a gorilla/websocket hub as people write one,
// and a raw-TCP writer that is the ceiling of any WebSocket server, servers.go) must not share depthcast's
// code, or they would measure it; and its load clients (client.go) count frames and read timestamps
// without decoding or verifying books, so that what a scenario measures is the server's cost, not the
// client's (the client package verifies every book, which is its job and not a load generator's).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings every scenario sees.
type options struct {
	quick   bool
	rounds  int    // A/B rounds per scenario
	outDir  string // where latest.json, latest.md and profiles go
	profile bool   // take CPU profiles of extra depthcast trials (fanout, latency)
	// kafka, when set (-kafka), names a real Apache Kafka cluster: ingest and latency/5k also run against
	// it, reported beside the kfake figures.
	kafka []string
}

// scale picks the quick or the full value.
func (o *options) scale(quick, full time.Duration) time.Duration {
	if o.quick {
		return quick
	}
	return full
}

func (o *options) n(quick, full int) int {
	if o.quick {
		return quick
	}
	return full
}

type scenario struct {
	name string
	desc string
	run  func(o *options, rep *report) error
}

var scenarios = []scenario{
	{"book", "updates/s on one 1.5k-level book incl. delta + top-N view diff, vs shopspring sorted slice", runBook},
	{"fanout", "delivered msgs/s to 1k and 5k subscribers, vs gorilla hub and the raw-TCP ceiling (sharded flushers)", runFanout},
	{"deflate", "wire bytes and CPU with and without permessage-deflate", runDeflate},
	{"latency", "Kafka record time to client receive at 50k and 5k updates/s into 1k clients", runLatency},
	{"memory", "RSS per idle subscribed connection at 5k connections, server in a child process", runMemory},
	{"ingest", "records/s consumed, decoded and applied from one partition, vs bare consume loops", runIngest},
	{"isolation", "one stalled client among 200 (wide updates, 256 KiB queue): closed with 1013, others' throughput and p99", runIsolation},
	{"replay", "events/s replayed at speed 0 from a recording on disk to one /replay client, vs the bare read of the recording", runReplay},
}

// quietLogger keeps the servers' warnings out of the report (errors still show).
var quietLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func main() {
	var o options
	var only, role, serverKind string
	flag.BoolVar(&o.quick, "quick", false, "short run (under 2 minutes): 2 A/B rounds, short trials")
	flag.IntVar(&o.rounds, "rounds", 0, "A/B rounds per scenario (default 2 quick, 3 full)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run: "+scenarioNames())
	flag.StringVar(&o.outDir, "out", "", "output directory (default bench/results under the module root, else ./bench-results)")
	flag.BoolVar(&o.profile, "profile", false, "also run a profiled depthcast trial of fanout/1k, latency/50k and ingest and write CPU profiles")
	flag.StringVar(&role, "role", "", "internal: 'server' runs one server in this process for the memory scenario")
	flag.StringVar(&serverKind, "server", "depthcast", "internal: with -role server, depthcast or gorilla")
	var kafkaBrokers string
	flag.StringVar(&kafkaBrokers, "kafka", "", "bootstrap brokers of a real Apache Kafka cluster (scripts/kafka.sh start): ingest and latency/5k also run against it")
	flag.Parse()
	o.kafka = splitBrokers(kafkaBrokers)

	raiseFDLimit()
	if role == "server" {
		if err := serveChild(serverKind, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	if o.rounds <= 0 {
		o.rounds = o.n(2, 3)
	}
	if o.outDir == "" {
		o.outDir = defaultOutDir()
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fatal(err)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !isScenario(s) {
				fatal(fmt.Errorf("unknown scenario %q (have %s)", s, scenarioNames()))
			}
			want[s] = true
		}
	}

	rep := newReport(o.quick)
	start := time.Now()
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s: %s\n", sc.name, sc.desc)
		t0 := time.Now()
		if err := sc.run(&o, rep); err != nil {
			fmt.Fprintf(os.Stderr, "   %s FAILED: %v\n", sc.name, err)
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s failed: %v", sc.name, err))
		}
		fmt.Fprintf(os.Stderr, "   %s took %.1fs\n", sc.name, time.Since(t0).Seconds())
		runtime.GC()
	}
	rep.finish(time.Since(start))
	md := rep.markdown()
	fmt.Print(md)
	if err := rep.write(o.outDir, md); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", filepath.Join(o.outDir, "latest.json"), filepath.Join(o.outDir, "latest.md"))
}

func scenarioNames() string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

func isScenario(name string) bool {
	for _, s := range scenarios {
		if s.name == name {
			return true
		}
	}
	return false
}

// defaultOutDir is bench/results beside this package when run from the module (go run ./bench).
func defaultOutDir() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "bench")); err == nil {
				return filepath.Join(d, "bench", "results")
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "bench-results"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// raiseFDLimit lifts RLIMIT_NOFILE to its hard limit: 5k connections need 10k descriptors in one process.
func raiseFDLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	// Try above the hard limit first (allowed with CAP_SYS_RESOURCE, up to fs.nr_open), then up to it.
	if rl.Max < 1<<20 {
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}) == nil {
			return
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// fdLimit is the current RLIMIT_NOFILE.
func fdLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// window measures wall and process CPU time between start and stop.
type window struct {
	t0   time.Time
	cpu0 time.Duration
	wall time.Duration
	cpu  time.Duration
}

func startWindow() *window { return &window{t0: time.Now(), cpu0: cpuTime()} }

func (w *window) stop() {
	w.wall = time.Since(w.t0)
	w.cpu = cpuTime() - w.cpu0
}
