package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkOnce fails when a symbol's updates do not have strictly increasing seqs (an event applied twice) or
// when a seq of want was never applied.
func checkOnce(t *testing.T, lines []string, sym string, want []uint64) {
	t.Helper()
	var got []uint64
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == sym && f[0] == "update" {
			n, _ := strconv.ParseUint(f[2], 10, 64)
			got = append(got, n)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("%s: update seq %d after %d (applied twice or out of order): %v", sym, got[i], got[i-1], got)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s: seq %d never applied: %v", sym, w, got)
		}
	}
}

func hasLine(r *enginetest.Recorder, line string) bool { return slices.Contains(r.Lines(), line) }

// wentStale reports whether a status stale came for sym after its book was live (the first status of a
// symbol, when it is first seen, is stale too).
func wentStale(r *enginetest.Recorder, sym string) bool {
	lines := r.For(sym)
	live := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "snapshot ") })
	return live >= 0 && slices.Contains(lines[live:], "status "+sym+" live=false")
}

// Fetches and high-watermark reads fail for a while (the broker cuts the connection): after OutageTimeout
// the partition's live books go stale and Ready turns false; when fetches work again, reading resumes at
// the position it stopped, each book comes back live with a snapshot of its own content, then the events
// produced meanwhile are applied once each.
func TestOutageFromInjectedFetchErrors(t *testing.T) {
	k := newTestCluster(t, 1)
	var failing atomic.Bool
	var injected, fetchFails atomic.Int64
	inject := func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.c.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		injected.Add(1)
		if req.Key() == int16(kmsg.Fetch) {
			fetchFails.Add(1)
		}
		return nil, errors.New("injected fault"), true
	}
	k.c.ControlKey(int16(kmsg.Fetch), inject)
	k.c.ControlKey(int16(kmsg.ListOffsets), inject)

	k.produce(t,
		enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("99:2"), nil),
		enginetest.Snap("ETH-USD", 1, enginetest.L("10:1"), enginetest.L("11:1")))
	rec := &enginetest.Recorder{}
	m := testkit.NewMetrics()
	c := newTestConsumer(t, k, Config{PollInterval: 100 * time.Millisecond, OutageTimeout: time.Second, Meter: m.Provider.Meter("t")}, rec)
	runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=2 100:1,99:2|101:1")
	testkit.WaitFor(t, 15*time.Second, "Ready", c.Ready)

	failing.Store(true)
	// A fetch already waiting at the broker would still get what comes next: produce once fetches fail.
	testkit.WaitFor(t, 15*time.Second, "a fetch to fail", func() bool { return fetchFails.Load() > 0 })
	k.produce(t, enginetest.Delta("BTC-USD", 3, enginetest.L("98:3"), nil), enginetest.Delta("BTC-USD", 4, nil, enginetest.L("102:4")))
	testkit.WaitFor(t, 15*time.Second, "the books to go stale", func() bool {
		return wentStale(rec, "BTC-USD") && wentStale(rec, "ETH-USD")
	})
	if c.Ready() {
		t.Error("Ready during the outage")
	}
	if got := m.Value(t, engine.MetricStaleBooks); got != 2 {
		t.Errorf("stale books gauge %d during the outage, want 2", got)
	}
	failing.Store(false)
	waitBook(t, c, "BTC-USD", "live=true seq=4 100:1,99:2,98:3|101:1,102:4")
	testkit.WaitFor(t, 15*time.Second, "Ready again", c.Ready)
	testkit.WaitFor(t, 15*time.Second, "ETH-USD live again", func() bool { return hasLine(rec, "snapshot ETH-USD 1 10:1|11:1") })
	if injected.Load() == 0 {
		t.Fatal("no request failed")
	}

	btc := rec.For("BTC-USD")
	i := slices.Index(btc, "snapshot BTC-USD 1 100:1|101:1") + 2
	want := []string{
		"status BTC-USD live=false",
		"snapshot BTC-USD 2 100:1,99:2|101:1", // its own content, live again: seq 3 follows 2
		"update BTC-USD 3 100:1,99:2,98:3|101:1",
		"update BTC-USD 4 100:1,99:2,98:3|101:1,102:4",
	}
	if i < 0 || len(btc) < i+len(want) {
		t.Fatalf("BTC-USD calls %v", btc)
	}
	testkit.EqualLines(t, "BTC-USD through the outage", btc[i:i+len(want)], want)
	checkOnce(t, rec.Lines(), "BTC-USD", []uint64{2, 3, 4})
	if got := m.Value(t, engine.MetricStaleBooks); got != 0 {
		t.Errorf("stale books gauge %d after the outage, want 0", got)
	}
	t.Logf("%d requests failed", injected.Load())
}

// The same records produced again (a producer retrying, a mirror replaying) are skipped as duplicates:
// no engine.Publisher call, no book change.
func TestRedeliveryChangesNothing(t *testing.T) {
	k := newTestCluster(t, 2)
	history := []string{
		enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("99:2"), nil), enginetest.Trade("BTC-USD", 3, "100", "1"),
		enginetest.Snap("ETH-USD", 7, enginetest.L("10:1"), enginetest.L("11:1")), enginetest.Delta("ETH-USD", 8, nil, enginetest.L("12:5")),
	}
	k.produce(t, history...)
	rec := &enginetest.Recorder{}
	m := testkit.NewMetrics()
	c := newTestConsumer(t, k, Config{Meter: m.Provider.Meter("t")}, rec)
	runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=2 100:1,99:2|101:1")
	waitBook(t, c, "ETH-USD", "live=true seq=8 10:1|11:1,12:5")
	before := rec.Lines()

	k.produce(t, history...)
	k.produce(t, enginetest.Delta("BTC-USD", 4, enginetest.L("98:1"), nil), enginetest.Delta("ETH-USD", 9, enginetest.L("9:1"), nil)) // markers
	waitBook(t, c, "BTC-USD", "live=true seq=4 100:1,99:2,98:1|101:1")
	waitBook(t, c, "ETH-USD", "live=true seq=9 10:1,9:1|11:1,12:5")
	after := rec.Lines()
	slices.Sort(after[len(before):])
	testkit.EqualLines(t, "calls after the redelivery", after[len(before):], []string{
		"update BTC-USD 4 100:1,99:2,98:1|101:1",
		"update ETH-USD 9 10:1,9:1|11:1,12:5",
	})
	if got := m.Value(t, engine.MetricSkipped, "reason="+engine.SkipDuplicate); got != int64(len(history)) {
		t.Errorf("duplicates skipped %d, want %d", got, len(history))
	}
}

// The broker goes away and a new one comes up on the same port with the same log (kfake persisting to a
// directory): the books go stale during the outage, reading resumes at the offset it stopped, nothing is
// applied twice or lost.
func TestBrokerRestartOnSamePort(t *testing.T) {
	dir, port := t.TempDir(), testkit.FreePort(t)
	start := func(seed bool) *kfake.Cluster {
		if seed {
			return testkit.StartBroker(t, port, dir, kfake.SeedTopics(1, testTopic))
		}
		return testkit.StartBroker(t, port, dir)
	}
	produce := func(c *kfake.Cluster, values ...string) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic(testTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		(&testCluster{c: c, cl: cl}).produce(t, values...)
	}

	first := start(true)
	produce(first, enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("99:2"), nil))
	rec := &enginetest.Recorder{}
	c, err := New(Config{Brokers: first.ListenAddrs(), PollInterval: 100 * time.Millisecond, OutageTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=2 100:1,99:2|101:1")

	first.Close()
	testkit.WaitFor(t, 15*time.Second, "the book to go stale", func() bool { return wentStale(rec, "BTC-USD") })
	if c.Ready() {
		t.Error("Ready while the broker is gone")
	}
	second := start(false)
	defer second.Close()
	var values []string
	for seq := uint64(3); seq <= 20; seq++ {
		values = append(values, enginetest.Delta("BTC-USD", seq, enginetest.L(fmt.Sprintf("%d:1", 90-seq)), nil))
	}
	produce(second, values...)
	levels := []string{"100:1", "99:2"}
	for seq := uint64(3); seq <= 20; seq++ {
		levels = append(levels, fmt.Sprintf("%d:1", 90-seq))
	}
	waitBook(t, c, "BTC-USD", "live=true seq=20 "+strings.Join(levels, ",")+"|101:1")
	testkit.WaitFor(t, 15*time.Second, "Ready again", c.Ready)
	if !hasLine(rec, "snapshot BTC-USD 2 100:1,99:2|101:1") {
		t.Errorf("the book did not come back live at seq 2: %v", rec.For("BTC-USD"))
	}
	seqs := []uint64{2}
	for s := uint64(3); s <= 20; s++ {
		seqs = append(seqs, s)
	}
	checkOnce(t, rec.Lines(), "BTC-USD", seqs)
}

// Slow books are not an outage: a reader waiting for room in a full shard queue for longer than
// OutageTimeout does not mark the books stale.
func TestSlowWritersAreNotAnOutage(t *testing.T) {
	k := newTestCluster(t, 1)
	k.produce(t, enginetest.Snap("BTC-USD", 1, enginetest.L("100:1"), enginetest.L("101:1")), enginetest.Delta("BTC-USD", 2, enginetest.L("99:1"), nil),
		enginetest.Delta("BTC-USD", 3, enginetest.L("98:1"), nil), enginetest.Delta("BTC-USD", 4, enginetest.L("97:1"), nil), enginetest.Delta("BTC-USD", 5, enginetest.L("96:1"), nil))
	rec := &enginetest.Recorder{Delay: 700 * time.Millisecond}
	c := newTestConsumer(t, k, Config{Books: engine.Config{Shards: 1, QueueSize: 1}, PollInterval: 50 * time.Millisecond, OutageTimeout: 300 * time.Millisecond}, rec)
	runConsumer(t, c)
	waitBook(t, c, "BTC-USD", "live=true seq=5 100:1,99:1,98:1,97:1,96:1|101:1")
	if wentStale(rec, "BTC-USD") {
		t.Errorf("slow writers made the book stale: %v", rec.For("BTC-USD"))
	}
}
