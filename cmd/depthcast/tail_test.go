package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/shopspring/decimal"
)

// runTailCmd runs "depthcast tail args…" until stop; stop cancels it, checks it exits 0 and returns its
// output.
func runTailCmd(t *testing.T, args ...string) (stdout *testkit.Buffer, stop func() string) {
	t.Helper()
	var out, errOut testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, append([]string{"tail"}, args...), &out, &errOut) }()
	done := false
	stop = func() string {
		if !done {
			done = true
			cancel()
			select {
			case code := <-exit:
				if code != 0 {
					t.Errorf("tail exited %d after cancel\nstderr: %s", code, errOut.String())
				}
			case <-time.After(waitTimeout):
				t.Errorf("tail did not exit after cancel")
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return &out, stop
}

var (
	tailBookRE  = regexp.MustCompile(`^(\S+) BTC-USD seq=(\d+) bid=(\S+)x(\S+) ask=(\S+)x(\S+) spread=(\S+)$`)
	tailTradeRE = regexp.MustCompile(`^(\S+) BTC-USD trade seq=(\d+) (buy|sell) (\S+)@(\S+) id=(\S+)$`)
	tailStatRE  = regexp.MustCompile(`^(\S+) BTC-USD status=(live|stale|resync)$`)
	tailConnRE  = regexp.MustCompile(`^(\S+) BTC-USD connection=(connected|disconnected)$`)
)

// tail --plain against a demo node: one parseable line per book update and per trade, seqs rising, best bid
// below best ask and the spread their difference; cancelling it ends it with exit code 0.
func TestTailPlain(t *testing.T) {
	t.Setenv("DEPTHCAST_SYMBOLS", "2")
	addr, _ := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "400", "--levels", "10", "--log-level", "warn")
	waitFor(t, "BTC-USD live", func() bool { return strings.Contains(strings.Join(symbolsStatus(t, addr), ","), "BTC-USD:live") })

	out, stop := runTailCmd(t, "--url", "ws://"+addr+"/ws", "--symbol", "BTC-USD", "--depth", "5", "--trades", "--plain", "--log-level", "warn")
	waitFor(t, "book and trade lines", func() bool {
		s := out.String()
		return strings.Count(s, " bid=") >= 40 && strings.Count(s, " trade ") >= 3
	})
	text := stop()
	var books, trades int
	var lastBook, lastTrade uint64
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if m := tailBookRE.FindStringSubmatch(line); m != nil {
			books++
			if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
				t.Errorf("time %q: %v", m[1], err)
			}
			seq, _ := strconv.ParseUint(m[2], 10, 64)
			if seq <= lastBook {
				t.Errorf("book seq %d after %d", seq, lastBook)
			}
			lastBook = seq
			bid, ask, spread := decimal.RequireFromString(m[3]), decimal.RequireFromString(m[5]), decimal.RequireFromString(m[7])
			if !bid.LessThan(ask) || !ask.Sub(bid).Equal(spread) {
				t.Errorf("line %q: bid %s, ask %s, spread %s", line, bid, ask, spread)
			}
			continue
		}
		if m := tailTradeRE.FindStringSubmatch(line); m != nil {
			trades++
			seq, _ := strconv.ParseUint(m[2], 10, 64)
			if seq <= lastTrade {
				t.Errorf("trade seq %d after %d", seq, lastTrade)
			}
			lastTrade = seq
			if d, err := decimal.NewFromString(m[4]); err != nil || !d.IsPositive() {
				t.Errorf("trade size in %q", line)
			}
			continue
		}
		if tailStatRE.MatchString(line) || tailConnRE.MatchString(line) {
			continue
		}
		t.Errorf("line not in the plain format: %q", line)
	}
	if books < 40 || trades < 3 {
		t.Errorf("%d book lines and %d trade lines", books, trades)
	}
}

// Without --plain the ladder is redrawn in place; the symbol can come from DEPTHCAST_SYMBOL.
func TestTailLadder(t *testing.T) {
	t.Setenv("DEPTHCAST_SYMBOLS", "2")
	addr, _ := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "200", "--levels", "10", "--log-level", "warn")
	waitFor(t, "ETH-USD live", func() bool { return strings.Contains(strings.Join(symbolsStatus(t, addr), ","), "ETH-USD:live") })
	t.Setenv("DEPTHCAST_SYMBOL", "ETH-USD")
	out, stop := runTailCmd(t, "--url", "ws://"+addr+"/ws", "--depth", "3", "--log-level", "warn")
	waitFor(t, "two frames of the ladder", func() bool { return strings.Count(out.String(), ansiHome) >= 2 })
	text := stop()
	frames := strings.Split(text, ansiHome)
	last := frames[len(frames)-1]
	if !strings.HasPrefix(last, ansiBold+"ETH-USD"+ansiReset+"  LIVE  seq ") || !strings.Contains(last, " bps)") || strings.Count(last, "ask  ") != 3 || strings.Count(last, "bid  ") != 3 || !strings.Contains(last, "spread ") {
		t.Errorf("last frame of the ladder:\n%s", last)
	}

	// A symbol the feed does not have ends the command with the feed's refusal.
	var stdout, stderr testkit.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if code := run(ctx, []string{"tail", "--url", "ws://" + addr + "/ws", "--symbol", "NOPE-USD", "--log-level", "warn"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "unknown_symbol") {
		t.Errorf("tail of an unknown symbol: exit %d, stderr %q", code, stderr.String())
	}
}

func TestTailUsage(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		wantCode   int
		wantStderr string
	}{
		{[]string{"tail"}, 2, "--symbol is required"},
		{[]string{"tail", "--symbol", "X", "--depth", "0"}, 2, "--depth 0"},
		{[]string{"tail", "--symbol", "X", "--interval-ms", "5"}, 2, "interval_ms"},
		{[]string{"tail", "--symbol", "X", "--changes-only"}, 2, "--changes-only needs --plain"},
		{[]string{"tail", "--symbol", "X", "--url", "http://127.0.0.1:1/ws"}, 1, "scheme"},
		{[]string{"help", "tail"}, 0, ""},
	} {
		unsetEnv(t, "DEPTHCAST_SYMBOL")
		var stdout, stderr testkit.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		code := run(ctx, tc.args, &stdout, &stderr)
		cancel()
		if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.wantCode, tc.wantStderr)
		}
		if tc.args[0] == "help" && !strings.Contains(stdout.String(), "--symbol  [DEPTHCAST_SYMBOL]") {
			t.Errorf("help tail: %s", stdout.String())
		}
	}
}

// tail --plain --changes-only against a demo node prints a book line only when the best bid or ask (price
// or size) changed from the line before, while the book updates in between (at 10 levels most updates do
// not touch the top) are left out: the seqs of the lines skip.
func TestTailChangesOnly(t *testing.T) {
	t.Setenv("DEPTHCAST_SYMBOLS", "2")
	addr, _ := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "400", "--levels", "10", "--log-level", "warn")
	waitFor(t, "BTC-USD live", func() bool { return strings.Contains(strings.Join(symbolsStatus(t, addr), ","), "BTC-USD:live") })

	out, stop := runTailCmd(t, "--url", "ws://"+addr+"/ws", "--symbol", "BTC-USD", "--depth", "10", "--plain", "--changes-only", "--log-level", "warn")
	waitFor(t, "30 book lines", func() bool { return strings.Count(out.String(), " bid=") >= 30 })
	text := stop()
	var prevTop string
	var lastSeq uint64
	lines, skipped := 0, 0
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		m := tailBookRE.FindStringSubmatch(line)
		if m == nil {
			if !tailStatRE.MatchString(line) && !tailConnRE.MatchString(line) {
				t.Errorf("line not in the plain format: %q", line)
			}
			continue
		}
		lines++
		top := m[3] + "x" + m[4] + "|" + m[5] + "x" + m[6]
		if top == prevTop {
			t.Errorf("line %q repeats the best bid and ask of the line before", line)
		}
		prevTop = top
		seq, _ := strconv.ParseUint(m[2], 10, 64)
		if lastSeq != 0 && seq > lastSeq+1 {
			skipped++
		}
		lastSeq = seq
	}
	if lines < 30 || skipped == 0 {
		t.Errorf("%d book lines, %d of them after skipped updates; want updates that leave the top as it was left out", lines, skipped)
	}
}

// With auth on, tail sends --token (here from DEPTHCAST_TOKEN) as a bearer token and follows the book;
// without it the feed refuses the handshake and tail says so.
func TestTailToken(t *testing.T) {
	brokers := newCluster(t)
	cl := newProducer(t, brokers)
	produce(t, cl, []string{"BTC-USD"}, [][]byte{
		[]byte(`{"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["100","1"]],"asks":[["101","2"]]}`),
	})
	key, line := newKeyLine(t, auth.Grant{Name: "alice"})
	keys := filepath.Join(t.TempDir(), "keys")
	writeFileAtomic(t, keys, line+"\n")
	addr, stop := runInBackground(t, "serve", "--brokers", strings.Join(brokers, ","), "--listen", "127.0.0.1:0", "--auth-keys", keys, "--log-level", "error")
	defer stop()

	var stdout, stderr testkit.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if code := run(ctx, []string{"tail", "--url", "ws://" + addr + "/ws", "--symbol", "BTC-USD", "--plain", "--log-level", "warn"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "401") {
		t.Errorf("tail without a token: exit %d, stderr %q", code, stderr.String())
	}

	waitFor(t, "BTC-USD in the feed", func() bool {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/symbols", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(b), `"BTC-USD"`)
	})
	t.Setenv("DEPTHCAST_TOKEN", key)
	out, stopTail := runTailCmd(t, "--url", "ws://"+addr+"/ws", "--symbol", "BTC-USD", "--plain", "--log-level", "warn")
	waitFor(t, "the book line", func() bool { return strings.Contains(out.String(), " seq=1 bid=100x1 ask=101x2 spread=1") })
	stopTail()
}

// When the node goes away the ladder says DISCONNECTED (with how long and the next retry) over the last
// book instead of going on as if live, and the reconnect warnings go to stderr, never into the ladder.
func TestTailDisconnected(t *testing.T) {
	t.Setenv("DEPTHCAST_SYMBOLS", "2")
	addr, stopNode := runInBackground(t, "demo", "--listen", "127.0.0.1:0", "--rate", "200", "--levels", "5", "--log-level", "warn")
	waitFor(t, "BTC-USD live", func() bool { return strings.Contains(strings.Join(symbolsStatus(t, addr), ","), "BTC-USD:live") })

	var out, errOut testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"tail", "--url", "ws://" + addr + "/ws", "--symbol", "BTC-USD", "--depth", "3", "--log-level", "info"}, &out, &errOut)
	}()
	defer func() {
		cancel()
		<-exit
	}()
	waitFor(t, "a live frame", func() bool { return strings.Contains(out.String(), "  LIVE  seq ") })
	stopNode()
	waitFor(t, "the disconnected frame", func() bool {
		frames := strings.Split(out.String(), ansiHome)
		last := frames[len(frames)-1]
		return strings.Contains(last, "DISCONNECTED for ") && strings.Contains(last, "last book received") && strings.Contains(last, "ask  ")
	})
	waitFor(t, "the warning on stderr", func() bool { return strings.Contains(errOut.String(), "connection lost") })
	if s := out.String(); strings.Contains(s, "level=") || strings.Contains(s, "connection lost") || strings.Contains(s, "[waiting]") {
		t.Errorf("log lines or the old state tag in the ladder:\n%s", s)
	}
}
