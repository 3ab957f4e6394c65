package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/depthcast/depthcast/feed"
)

// The memory scenario runs the server in a child process of this binary (-role server), so that its RSS
// holds the server side only: the parent opens the 5k client connections and reads the child's
// /proc/PID/statm before and after.

// serveChild runs one server until stdin closes. It prints "ADDR host:port", then answers "gc" (a forced
// GC and FreeOSMemory) with "ok".
func serveChild(kind string, in io.Reader, out io.Writer) error {
	var srv fanServer
	var err error
	switch kind {
	case "depthcast":
		srv, err = startDepthcast(feed.Config{}, symbolNames(4), 50)
	case "gorilla":
		srv, err = startGorilla()
	default:
		err = fmt.Errorf("unknown server %q", kind)
	}
	if err != nil {
		return err
	}
	defer srv.close()
	fmt.Fprintf(out, "ADDR %s\n", srv.addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "gc" {
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Fprintln(out, "ok")
		}
	}
	return nil
}

func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New("bad statm")
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

type memTrial struct{ perConn, perConnGC float64 }

func memoryTrial(kind string, n int, settle time.Duration) (res memTrial, err error) {
	exe, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(exe, "-role", "server", "-server", kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	done := make(chan error, 1)
	defer func() {
		_ = stdin.Close()
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	lines := bufio.NewScanner(stdout)
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			got <- lines.Text()
		}
		close(got)
	}()
	readLine := func() (string, error) {
		select {
		case l, ok := <-got:
			if !ok {
				return "", errors.New("server child exited")
			}
			return l, nil
		case <-time.After(20 * time.Second):
			return "", errors.New("server child did not answer")
		}
	}
	l, err := readLine()
	if err != nil {
		return res, err
	}
	addr, ok := strings.CutPrefix(l, "ADDR ")
	if !ok {
		return res, fmt.Errorf("server child said %q", l)
	}
	pid := cmd.Process.Pid
	// One connection first, so that lazily built state (pools, the first goroutines) is in the baseline.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sub := func(int) []byte { return subscribeMsg([]string{"BTC-USD"}, 10) }
	o := &clientOpts{subscribe: sub, bufSize: 4 << 10}
	first, err := dialAll(ctx, addr, 1, o)
	if err != nil {
		return res, err
	}
	defer closeAll(first)
	time.Sleep(settle / 2)
	rss0, err := rssOf(pid)
	if err != nil {
		return res, err
	}
	// The settled baseline: the same 1-connection server after a forced GC and FreeOSMemory.
	fmt.Fprintln(stdin, "gc")
	if _, err := readLine(); err != nil {
		return res, err
	}
	rss0GC, err := rssOf(pid)
	if err != nil {
		return res, err
	}
	clients, err := dialAll(ctx, addr, n, o)
	if err != nil {
		return res, err
	}
	defer closeAll(clients)
	initial := int64(2) // subscribed + snapshot
	if kind != "depthcast" {
		initial = 1
	}
	if err := waitMsgs(ctx, clients, initial, 60*time.Second); err != nil {
		return res, err
	}
	time.Sleep(settle)
	rss1, err := rssOf(pid)
	if err != nil {
		return res, err
	}
	fmt.Fprintln(stdin, "gc")
	if _, err := readLine(); err != nil {
		return res, err
	}
	rss2, err := rssOf(pid)
	if err != nil {
		return res, err
	}
	return memTrial{perConn: float64(rss1-rss0) / float64(n), perConnGC: float64(rss2-rss0GC) / float64(n)}, nil
}

func runMemory(o *options, rep *report) error {
	const n = 5000
	settle := o.scale(500*time.Millisecond, 3*time.Second)
	var dc, dcGC, g, gGC []float64
	for r := 0; r < o.rounds; r++ {
		for _, kind := range []string{"depthcast", "gorilla"} {
			t, err := memoryTrial(kind, n, settle)
			if err != nil {
				return fmt.Errorf("%s: %w", kind, err)
			}
			fmt.Fprintf(os.Stderr, "   memory %-9s %.0f B/conn (%.0f B/conn after forced GC)\n", kind, t.perConn, t.perConnGC)
			if kind == "depthcast" {
				dc, dcGC = append(dc, t.perConn), append(dcGC, t.perConnGC)
			} else {
				g, gGC = append(g, t.perConn), append(gGC, t.perConnGC)
			}
		}
	}
	// The settled figure is the target's: what the server holds for its connections once the garbage of
	// their upgrades is collected, as it is at the next GC cycle. The figure before any GC follows it.
	v := median(dcGC)
	rep.add(Row{Scenario: "memory/5k", Metric: "RSS per idle subscribed conn, settled", Value: v, Unit: "B", Baseline: "gorilla-hub", BaselineValue: median(gGC),
		Trials: dcGC, BaselineTrials: gGC, Target: "≤ 12 KiB (12288 B)", Pass: boolp(v <= 12288),
		Notes: "server in a child process; (RSS after 5k conns subscribed to BTC-USD depth 10 - RSS with 1 conn) / 5000, both RSS taken after a forced runtime.GC + debug.FreeOSMemory in the server, the same for both servers; lower is better"})
	rep.add(Row{Scenario: "memory/5k", Metric: "RSS per idle subscribed conn, before GC", Value: median(dc), Unit: "B", Baseline: "gorilla-hub", BaselineValue: median(g),
		Trials: dc, BaselineTrials: g,
		Notes: "the same trials, both RSS taken before any forced GC: includes the upgrades' garbage (net/http's hijacked buffers, handshake headers) not yet collected"})
	return nil
}
