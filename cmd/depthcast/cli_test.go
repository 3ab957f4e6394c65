package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
)

// unsetEnv removes an environment variable for the test (and restores it after).
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// run's commands that end at once: help, usage errors (exit 2), and their messages.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: depthcast COMMAND"},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "usage: depthcast COMMAND"},
		{name: "--help", args: []string{"--help"}, wantCode: 0, wantStdout: "Commands:"},
		{name: "help serve", args: []string{"help", "serve"}, wantCode: 0, wantStdout: "--brokers  [DEPTHCAST_BROKERS]"},
		{name: "help demo", args: []string{"help", "demo"}, wantCode: 0, wantStdout: "--listen  [DEPTHCAST_LISTEN]"},
		{name: "serve --help", args: []string{"serve", "--help"}, wantCode: 0, wantStderr: "usage: depthcast serve"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "serve without brokers", args: []string{"serve"}, wantCode: 2, wantStderr: "--brokers is required"},
		{name: "serve with empty DEPTHCAST_BROKERS", args: []string{"serve"}, env: map[string]string{"DEPTHCAST_BROKERS": " , "},
			wantCode: 2, wantStderr: "--brokers is required"},
		{name: "simulate without brokers", args: []string{"simulate"}, wantCode: 2, wantStderr: "--brokers is required"},
		{name: "unknown flag", args: []string{"serve", "--brokers", "127.0.0.1:9", "--no-such-flag"}, wantCode: 2,
			wantStderr: "no-such-flag"},
		{name: "extra argument", args: []string{"serve", "--brokers", "127.0.0.1:9", "extra"}, wantCode: 2,
			wantStderr: `unexpected argument "extra"`},
		{name: "bad log level", args: []string{"serve", "--brokers", "127.0.0.1:9", "--log-level", "loud"}, wantCode: 2,
			wantStderr: "--log-level"},
		{name: "bad value in the environment", args: []string{"serve", "--brokers", "127.0.0.1:9"},
			env: map[string]string{"DEPTHCAST_SEND_QUEUE_BYTES": "lots"}, wantCode: 2, wantStderr: "DEPTHCAST_SEND_QUEUE_BYTES"},
		{name: "feed config out of range", args: []string{"serve", "--brokers", "127.0.0.1:9", "--send-queue-bytes", "10"}, wantCode: 2,
			wantStderr: "depthcast serve: --send-queue-bytes 10 < 4096\n"},
		{name: "help serve lists the level limit", args: []string{"help", "serve"}, wantCode: 0, wantStdout: "--max-book-levels"},
		{name: "help demo lists the level limit", args: []string{"help", "demo"}, wantCode: 0, wantStdout: "--max-book-levels"},
		{name: "bad level limit", args: []string{"serve", "--brokers", "127.0.0.1:9", "--max-book-levels", "-1"}, wantCode: 2,
			wantStderr: "max book levels -1"},
		{name: "bad start", args: []string{"serve", "--brokers", "127.0.0.1:9", "--start", "yesterday"}, wantCode: 2,
			wantStderr: "depthcast serve:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unsetEnv(t, "DEPTHCAST_BROKERS")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr testkit.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			code := run(ctx, tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tc.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}

var servingRE = regexp.MustCompile(`depthcast is serving on (\S+)\n`)

// runInBackground runs the command until the test stops it, waits for it to print where it serves and
// returns that address; stop cancels it and checks it exits 0.
func runInBackground(t *testing.T, args ...string) (addr string, stop func()) {
	t.Helper()
	var stdout testkit.Buffer
	return runInBackgroundOut(t, &stdout, args...)
}

// runInBackgroundOut is runInBackground writing the command's output to stdout.
func runInBackgroundOut(t *testing.T, stdout *testkit.Buffer, args ...string) (addr string, stop func()) {
	t.Helper()
	var stderr testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, args, stdout, &stderr) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-exit:
			if code != 0 {
				t.Errorf("%v exited %d after cancel\nstderr: %s", args, code, stderr.String())
			}
		case <-time.After(waitTimeout):
			t.Errorf("%v did not exit after cancel", args)
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(waitTimeout)
	for {
		if m := servingRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stop
		}
		select {
		case code := <-exit:
			stopped = true
			t.Fatalf("%v exited %d before serving\nstdout: %s\nstderr: %s", args, code, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v printed no address\nstdout: %s\nstderr: %s", args, stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serve takes its brokers from DEPTHCAST_BROKERS, and a flag on the command line wins over its variable.
func TestServeBrokersFromEnvironment(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	produce(t, prod, []string{"BTC-USD"}, [][]byte{[]byte(`{"type":"snapshot","symbol":"BTC-USD","seq":1,` +
		`"time":"2026-11-24T10:00:00Z","bids":[["43000.1","2"]],"asks":[["43000.2","1.5"]]}`)})

	t.Setenv("DEPTHCAST_BROKERS", strings.Join(brokers, ","))
	t.Setenv("DEPTHCAST_LISTEN", "256.0.0.1:1") // would fail: --listen below must win
	addr, stop := runInBackground(t, "serve", "--listen", "127.0.0.1:0", "--log-level", "warn")

	waitFor(t, "BTC-USD live in /v1/symbols", func() bool {
		got := symbolsStatus(t, addr)
		return len(got) == 1 && got[0] == "BTC-USD:live"
	})
	if code, body := httpGet(t, addr, "/v1/book/BTC-USD?depth=1"); code != http.StatusOK || !strings.Contains(body, `"bids":[["43000.1","2"]]`) {
		t.Errorf("/v1/book/BTC-USD: %d %s", code, body)
	}
	c := dialWS(t, addr)
	c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD"]}`)
	c.readUntil("the snapshot", func() bool { return c.books["BTC-USD"] != nil })
	produce(t, prod, []string{"BTC-USD"}, [][]byte{[]byte(`{"type":"delta","symbol":"BTC-USD","seq":2,` +
		`"time":"2026-11-24T10:00:01Z","bids":[["43000.1","0"]],"asks":[]}`)})
	c.readUntil("the update", func() bool { return c.books["BTC-USD"].seq == 2 })
	if got := c.books["BTC-USD"].top(0); got != "|43000.2:1.5;" {
		t.Errorf("book %s after the delta", got)
	}
	closing := c.awaitClose()
	stop()
	checkClose(t, "client of the stopped serve", closing, 1001)
}

// demo runs broker, simulated exchange and feed in one process, with flags from the environment too; its
// books are live and stream; cancelling it stops everything.
func TestDemo(t *testing.T) {
	t.Setenv("DEPTHCAST_SYMBOLS", "3")
	addr, stop := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "400", "--levels", "10", "--log-level", "warn")
	want := []string{"BTC-USD:live", "ETH-USD:live", "SOL-USD:live"}
	waitFor(t, "3 live symbols", func() bool { return strings.Join(symbolsStatus(t, addr), ",") == strings.Join(want, ",") })
	if code, body := httpGet(t, addr, "/"); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("dashboard: %d %.100s", code, body)
	}
	c := dialWS(t, addr)
	c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD","ETH-USD"],"depth":5}`)
	c.readUntil("updates of both books", func() bool {
		a, b := c.books["BTC-USD"], c.books["ETH-USD"]
		return a != nil && b != nil && a.updates >= 5 && b.updates >= 5
	})
	for sym, b := range c.books {
		if len(b.bids) > 5 || len(b.asks) > 5 {
			t.Errorf("%s: a depth-5 client holds %d bids and %d asks", sym, len(b.bids), len(b.asks))
		}
	}
	closing := c.awaitClose()
	stop()
	checkClose(t, "client of the stopped demo", closing, 1001)
}

// Environment variables are scoped per command: a node's variables (DEPTHCAST_MAX_CONNECTIONS,
// DEPTHCAST_SYMBOLS, DEPTHCAST_NAME) do not change keygen, whose flags are read from DEPTHCAST_KEYGEN_*;
// a command's own variable wins over the shared one.
func TestEnvironmentScopedPerCommand(t *testing.T) {
	keyLine := func(t *testing.T, env map[string]string, args ...string) string {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		code, stdout, stderr := runToEnd(t, append([]string{"keygen"}, args...)...)
		if code != 0 {
			t.Fatalf("keygen exited %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		return lines[len(lines)-1]
	}
	t.Run("node variables leave keygen alone", func(t *testing.T) {
		line := keyLine(t, map[string]string{"DEPTHCAST_MAX_CONNECTIONS": "5", "DEPTHCAST_MAX_SUBSCRIPTIONS": "6",
			"DEPTHCAST_SYMBOLS": "3", "DEPTHCAST_NAME": "node"})
		if strings.Contains(line, " ") {
			t.Errorf("keygen's key line %q took a node's variables", line)
		}
	})
	t.Run("keygen's own variables", func(t *testing.T) {
		line := keyLine(t, map[string]string{"DEPTHCAST_KEYGEN_MAX_CONNECTIONS": "4", "DEPTHCAST_KEYGEN_SYMBOLS": "BTC-USD",
			"DEPTHCAST_KEYGEN_NAME": "alice"})
		if !strings.HasSuffix(line, " name=alice max_connections=4 symbols=BTC-USD") {
			t.Errorf("key line %q, want name=alice max_connections=4 symbols=BTC-USD", line)
		}
	})
	t.Run("the command's variable wins", func(t *testing.T) {
		t.Setenv("DEPTHCAST_DEPTH", "not a number")
		t.Setenv("DEPTHCAST_TAIL_DEPTH", "2000")
		code, _, stderr := runToEnd(t, "tail", "--symbol", "BTC-USD")
		if code != 2 || !strings.HasPrefix(stderr, "depthcast tail: ") || !strings.Contains(stderr, "depth 2000 out of range") {
			t.Errorf("exit %d, stderr %q: want 2 and the depth of DEPTHCAST_TAIL_DEPTH refused", code, stderr)
		}
	})
	t.Run("help names the variables", func(t *testing.T) {
		_, stdout, _ := runToEnd(t, "help", "keygen")
		if !strings.Contains(stdout, "--symbols  [DEPTHCAST_KEYGEN_SYMBOLS]") || strings.Contains(stdout, "[DEPTHCAST_SYMBOLS]") {
			t.Errorf("help keygen:\n%s", stdout)
		}
	})
}

// A mistake on the command line gets its error first and a one-line hint, not the flags' usage; errors
// name no package of the project.
func TestCommandLineMistakes(t *testing.T) {
	unsetEnv(t, "DEPTHCAST_BROKERS")
	for _, tc := range []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"demo", "--rate", "abc"}, `depthcast demo: invalid value "abc" for flag --rate: parse error`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--no-such-flag"}, `depthcast serve: flag provided but not defined: --no-such-flag`},
		{[]string{"tail", "--depth"}, `depthcast tail: flag needs an argument: --depth`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--shards", "-1"}, `depthcast serve: shards -1 out of 1..4096`},
		{[]string{"simulate", "--brokers", "127.0.0.1:9", "--compression", "foo"}, `depthcast simulate: unknown compression "foo" (want gzip, snappy, lz4 or zstd)`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--heartbeat", "1ms"}, `depthcast serve: --heartbeat 1ms < 100ms`},
		{[]string{"demo", "--ops-per-second", "-1"}, `depthcast demo: --ops-per-second must be positive`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--max-replays", "-1"}, `depthcast serve: --max-replays must be positive`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--max-connections-per-ip", "-1"}, `depthcast serve: --max-connections-per-ip is negative`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--ping-interval", "1s", "--idle-timeout", "10ms"}, `depthcast serve: --idle-timeout 10ms is shorter than --ping-interval 1s`},
		{[]string{"serve", "--brokers", "127.0.0.1:9", "--trusted-proxies", "bogus"}, `depthcast serve: --trusted-proxies: "bogus" is neither an address nor a CIDR prefix`},
		{[]string{"tail", "--symbol", "BTC-USD", "--depth", "2000"}, `depthcast tail: depth 2000 out of range 1..1000 (0: full book)`},
	} {
		code, _, stderr := runToEnd(t, tc.args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		cmd := tc.args[0]
		if code != 2 || len(lines) != 2 || lines[0] != tc.want || lines[1] != `Run "depthcast help `+cmd+`" for its flags.` {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit 2, %q and the hint", tc.args, code, stderr, tc.want)
		}
	}
	dir := t.TempDir()
	for _, args := range [][]string{{"replay", "--in", dir + "/none"}, {"recording", "verify", dir + "/none"}} {
		code, _, stderr := runToEnd(t, args...)
		if code != 1 || internalPrefix.MatchString(stderr) || !strings.Contains(stderr, "no such file or directory") {
			t.Errorf("%v: exit %d, stderr %q: want 1, the error without package names", args, code, stderr)
		}
	}
}

// userMessage names the flag that sets a config field in place of the Go field, when the command has that
// flag: an identifier of two words or more, one reached through a struct, or one that starts the message.
func TestUserMessage(t *testing.T) {
	fs := flag.NewFlagSet("testcmd", flag.ContinueOnError)
	for _, name := range []string{"send-queue-bytes", "heartbeat", "idle-timeout", "ping-interval", "max-connections-per-ip"} {
		fs.String(name, "", "")
	}
	recordFlags(fs)
	for _, tc := range []struct{ err, want string }{
		{"invalid feed config: SendQueueBytes 10 < 4096", "--send-queue-bytes 10 < 4096"},
		{"invalid feed config: Heartbeat 1ms < 100ms", "--heartbeat 1ms < 100ms"},
		{"invalid feed config: Guard.IdleTimeout 1s is shorter than PingInterval 2s", "--idle-timeout 1s is shorter than --ping-interval 2s"},
		{"feed: invalid feed config: Guard.MaxConnectionsPerIP is negative", "--max-connections-per-ip is negative"},
		{"invalid feed config: MaxSymbolsPerRequest must be positive", "MaxSymbolsPerRequest must be positive"}, // no such flag
		{"no Heartbeat from the broker", "no Heartbeat from the broker"},                                        // a word of a sentence
		{"Kafka SendQueueBytes", "Kafka --send-queue-bytes"},
	} {
		if got := userMessage("testcmd", errors.New(tc.err)); got != tc.want {
			t.Errorf("userMessage(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	for id, want := range map[string]string{"MaxConnectionsPerIP": "max-connections-per-ip", "Heartbeat": "heartbeat",
		"MaxHTTPConnectionsPerIP": "max-http-connections-per-ip", "SendQueueBytes": "send-queue-bytes"} {
		if got := kebab(id); got != want {
			t.Errorf("kebab(%q) = %q, want %q", id, got, want)
		}
	}
}
