package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/kafkatopic"
	"github.com/depthcast/depthcast/sim"
)

// envName maps a flag name to its shared environment variable: send-queue-bytes → DEPTHCAST_SEND_QUEUE_BYTES.
func envName(flagName string) string {
	return "DEPTHCAST_" + envWord(flagName)
}

// commandEnvName maps a command's flag to the variable that sets it for that command only:
// (keygen, max-connections) → DEPTHCAST_KEYGEN_MAX_CONNECTIONS.
func commandEnvName(command, flagName string) string {
	return "DEPTHCAST_" + envWord(command) + "_" + envWord(flagName)
}

func envWord(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s))
}

// commandOnly lists, per command, the flags whose name means something else in another command: they are
// read only from the command's own variable (DEPTHCAST_KEYGEN_SYMBOLS), so that a variable set for a node
// (DEPTHCAST_SYMBOLS for demo, DEPTHCAST_MAX_CONNECTIONS for serve) cannot change them.
var commandOnly = map[string][]string{
	"keygen": {"name", "max-connections", "max-subscriptions", "symbols"},
	"record": {"from", "to"},
	"replay": {"from", "to"},
}

// flagEnv lists the variables that set a command's flag, the one that wins first.
func flagEnv(command, flagName string) []string {
	scoped := commandEnvName(command, flagName)
	for _, f := range commandOnly[command] {
		if f == flagName {
			return []string{scoped}
		}
	}
	return []string{scoped, envName(flagName)}
}

// newFlagSet returns a flag set whose usage lists each flag with its environment variable. The usage goes
// to stderr on --help only: a mistake gets its error and a one-line hint (see parseFlags).
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: depthcast %s\n\n%s\n\nFlags (each also read from the environment variable shown; %s sets it\nfor %s only, and wins):\n",
			synopsis, about, "DEPTHCAST_"+envWord(name)+"_<FLAG>", name)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			env := flagEnv(name, f.Name)
			fmt.Fprintf(stderr, "  --%s  [%s]\n      %s%s\n", f.Name, env[len(env)-1], f.Usage, def)
		})
	}
	return fs
}

// flagNames holds the names of each command's flags, as parseFlags found them: userMessage names a flag
// in place of the config field it sets only when the command has that flag.
var flagNames sync.Map // command name -> map[string]bool

// recordFlags records the names of fs's flags under its command's name.
func recordFlags(fs *flag.FlagSet) {
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	flagNames.Store(fs.Name(), names)
}

// commandFlags returns the names of command's flags, none before its flags were parsed.
func commandFlags(command string) map[string]bool {
	names, _ := flagNames.Load(command)
	m, _ := names.(map[string]bool)
	return m
}

// parseFlags applies environment variables (the command's own, or else the shared one), then the command
// line, which wins. On a mistake it returns the error alone; on --help it prints the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	recordFlags(fs)
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		for _, name := range flagEnv(fs.Name(), f.Name) {
			if v, ok := os.LookupEnv(name); ok {
				if e := fs.Set(f.Name, v); e != nil && err == nil {
					err = fmt.Errorf("%s=%q: %w", name, v, e)
				}
				return
			}
		}
	})
	if err != nil {
		return err
	}
	usage := fs.Usage
	fs.Usage = func() {}
	err = fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return err
	}
	if err != nil {
		// The flag package writes flags with one dash; the commands document two.
		return errors.New(flagDashes.Replace(err.Error()))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

var flagDashes = strings.NewReplacer("for flag -", "for flag --", "not defined: -", "not defined: --", "needs an argument: -", "needs an argument: --")

// listFlag is a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// logFlags are the logging flags of every long-running command.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	// Records logged with a span in their context carry trace_id and span_id (telemetry.go).
	switch l.format {
	case "text":
		return slog.New(newTraceHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(newTraceHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
}

// feedFlags map onto feed.Config and the node's own settings.
type feedFlags struct {
	listen          string
	sendQueueBytes  int
	sendQueueMsgs   int
	writeTimeout    time.Duration
	heartbeat       time.Duration
	maxMessageBytes int
	maxMalformed    int
	maxSubs         int
	maxConns        int
	opsPerSecond    float64
	noCompression   bool
	shutdownTimeout time.Duration
	drainTimeout    time.Duration
	symbolMetrics   int
}

func (f *feedFlags) register(fs *flag.FlagSet, listen string) {
	fs.StringVar(&f.listen, "listen", listen, "HTTP and WebSocket listen address (port 0: any free port)")
	fs.IntVar(&f.sendQueueBytes, "send-queue-bytes", feed.DefaultSendQueueBytes, "bytes queued for one client before it is closed as a slow consumer (1013)")
	fs.IntVar(&f.sendQueueMsgs, "send-queue-messages", feed.DefaultSendQueueMessages, "messages queued for one client before it is closed as a slow consumer (1013)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", feed.DefaultWriteTimeout, "longest write to a client, and how long a close frame may wait behind queued data")
	fs.DurationVar(&f.heartbeat, "heartbeat", feed.DefaultHeartbeat, "interval of heartbeat messages")
	fs.IntVar(&f.maxMessageBytes, "max-message-bytes", feed.DefaultMaxMessageBytes, "largest client message; larger ones close the connection (1009)")
	fs.IntVar(&f.maxMalformed, "max-malformed", feed.DefaultMaxMalformed, "malformed client messages allowed per minute before 1008")
	fs.IntVar(&f.maxSubs, "max-subscriptions", feed.DefaultMaxSubscriptions, "subscriptions (channel × symbol) per connection")
	fs.IntVar(&f.maxConns, "max-connections", feed.DefaultMaxConnections, "open WebSocket connections before handshakes get 429")
	fs.Float64Var(&f.opsPerSecond, "ops-per-second", feed.DefaultOpsPerSecond, "client messages per second per connection (burst twice that) before 1008")
	fs.BoolVar(&f.noCompression, "no-compression", false, "refuse permessage-deflate")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 5*time.Second, "on shutdown, how long past the drain timeout clients and the HTTP server get to finish")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", feed.DefaultDrainTimeout, "on SIGTERM, how long each client has to receive what is queued for it before its 1001 close")
	fs.IntVar(&f.symbolMetrics, "symbol-metrics", feed.DefaultSymbolMetrics, "symbols with per-symbol metric series, the first to appear (0: none)")
}

func (f *feedFlags) config() feed.Config {
	return feed.Config{SendQueueBytes: f.sendQueueBytes, SendQueueMessages: f.sendQueueMsgs, WriteTimeout: f.writeTimeout,
		Heartbeat: f.heartbeat, MaxMessageBytes: f.maxMessageBytes, MaxMalformed: f.maxMalformed, MaxSubscriptions: f.maxSubs,
		MaxConnections: f.maxConns, OpsPerSecond: f.opsPerSecond, OpsBurst: int(2 * f.opsPerSecond), DisableCompression: f.noCompression,
		DrainTimeout: f.drainTimeout}
}

// hubConfig is what the flags set of the feed's Hub.
func (f *feedFlags) hubConfig() feed.HubConfig {
	return feed.HubConfig{SymbolMetrics: symbolMetrics(f.symbolMetrics)}
}

// symbolMetrics maps --symbol-metrics onto feed.HubConfig.SymbolMetrics, where 0 takes the default and a
// negative value means none.
func symbolMetrics(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// ingestFlags map onto ingest.Config.
type ingestFlags struct {
	brokers    listFlag
	topic      string
	start      string
	partitions string
	shards     int
	deadLetter string
	outage     time.Duration
	maxLevels  int
}

// registerMaxBookLevels adds --max-book-levels, which maps onto ingest.Config.MaxBookLevels.
func registerMaxBookLevels(fs *flag.FlagSet, n *int) {
	fs.IntVar(n, "max-book-levels", engine.DefaultMaxBookLevels,
		"most levels a side of one book may hold; a record past it is refused (too_many_levels) and the book goes stale until a snapshot")
}

func (f *ingestFlags) register(fs *flag.FlagSet, withBrokers bool) {
	if withBrokers {
		fs.Var(&f.brokers, "brokers", "Kafka bootstrap brokers, host:port[,host:port…] (required)")
		fs.StringVar(&f.partitions, "partitions", "", "read only these partitions, e.g. 0,1,2 (default: all)")
		fs.StringVar(&f.deadLetter, "dead-letter-topic", "", "topic that receives rejected records (default: off)")
	}
	fs.StringVar(&f.topic, "topic", kafkatopic.DefaultTopic, "Kafka topic of upstream events")
	fs.StringVar(&f.start, "start", kafkatopic.Earliest, "where to start reading: earliest, latest or an RFC 3339 time")
	fs.IntVar(&f.shards, "shards", 0, "book writer goroutines (default: GOMAXPROCS)")
	fs.DurationVar(&f.outage, "outage-timeout", ingest.DefaultOutageTimeout, "a partition out of contact with the broker this long has its books marked stale")
}

func (f *ingestFlags) config() (ingest.Config, error) {
	c := ingest.Config{Brokers: f.brokers, Topic: f.topic, Start: f.start, DeadLetterTopic: f.deadLetter,
		OutageTimeout: f.outage, Books: engine.Config{Shards: f.shards, MaxBookLevels: f.maxLevels}}
	if f.partitions != "" {
		for _, p := range strings.Split(f.partitions, ",") {
			var n int
			if _, err := fmt.Sscan(strings.TrimSpace(p), &n); err != nil {
				return c, fmt.Errorf("--partitions %q: %w", f.partitions, err)
			}
			c.Partitions = append(c.Partitions, n)
		}
	}
	return c, nil
}

// simFlags map onto sim.Config.
type simFlags struct {
	symbols int
	levels  int
	seed    int64
	rate    float64
	clock   string
}

func (f *simFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.symbols, "symbols", sim.DefaultSymbols, "number of simulated symbols")
	fs.IntVar(&f.levels, "levels", sim.DefaultLevels, "levels per side of each simulated book")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the simulated order flow (the same seed gives the same events)")
	fs.Float64Var(&f.rate, "rate", sim.DefaultRate, "events per second (0: as fast as the broker takes them)")
	fs.StringVar(&f.clock, "clock", clockWall, "time of the events and of their Kafka records: wall (the current time, as a real gateway writes) or sim (a simulated clock from "+sim.Epoch.Format(time.RFC3339)+" advancing 1-10 µs per event, byte-identical for a seed)")
}

// Values of --clock.
const (
	clockWall = "wall"
	clockSim  = "sim"
)

// config maps the flags onto sim.Config; --clock wall sets Config.Clock to time.Now, --clock sim leaves it
// nil (the simulated clock).
func (f *simFlags) config() (sim.Config, error) {
	c := sim.Config{Symbols: f.symbols, Levels: f.levels, Seed: f.seed}
	switch f.clock {
	case clockWall:
		c.Clock = time.Now
	case clockSim:
	default:
		return c, fmt.Errorf("--clock %q: want wall or sim", f.clock)
	}
	return c, nil
}
