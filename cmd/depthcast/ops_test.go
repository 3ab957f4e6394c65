package main

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var lagLine = regexp.MustCompile(`(?m)^depthcast_ingest_partition_lag[a-z_]*\{[^}]*partition="(\d+)"[^}]*\} (\d+)`)

// partitionLag reads the per-partition lag gauge from GET /metrics.
func partitionLag(t *testing.T, addr string) map[int]int64 {
	t.Helper()
	code, body := httpGet(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[int]int64{}
	for _, m := range lagLine.FindAllStringSubmatch(body, -1) {
		p, _ := strconv.Atoi(m[1])
		v, _ := strconv.ParseInt(m[2], 10, 64)
		out[p] = v
	}
	return out
}

// The lag of each partition (high watermark - next offset) is on /metrics: it grows while fetches fail and
// records keep coming, and goes back to 0 once they are read.
func TestLagMetricOnPrometheus(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var failing atomic.Bool
	var mu sync.Mutex
	refused := map[int32]bool{} // partitions whose fetch failed since failing was set
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		mu.Lock()
		for _, tp := range req.(*kmsg.FetchRequest).Topics {
			for _, p := range tp.Partitions {
				refused[p.Partition] = true
			}
		}
		mu.Unlock()
		return nil, errors.New("injected fault"), true
	})
	brokers := c.ListenAddrs()
	prod := newProducer(t, brokers)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 5, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	keys, values := events(x, 100)
	produce(t, prod, keys, values)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic,
		PollInterval: 100 * time.Millisecond, OutageTimeout: time.Minute}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	waitFor(t, "zero lag on 3 partitions", func() bool {
		lag := partitionLag(t, m.Addr())
		return len(lag) == 3 && lag[0]+lag[1]+lag[2] == 0
	})

	failing.Store(true)
	// The fetches waiting at the broker (MaxWait) end; wait until every partition's next one has failed.
	waitFor(t, "a failed fetch on every partition", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) == 3
	})
	keys, values = events(x, 300)
	produce(t, prod, keys, values)
	var seen map[int]int64
	waitFor(t, "the lag to show the records not read", func() bool {
		seen = partitionLag(t, m.Addr())
		return seen[0]+seen[1]+seen[2] >= 250
	})
	failing.Store(false)
	waitFor(t, "the lag back to 0", func() bool {
		lag := partitionLag(t, m.Addr())
		return len(lag) == 3 && lag[0]+lag[1]+lag[2] == 0
	})
	t.Logf("lag while fetches failed: %v", seen)
}

// startBroker starts a kfake broker on port that keeps its log in dir, with the topic when seed is set.
func startBroker(t *testing.T, port int, dir string, seed bool) *kfake.Cluster {
	t.Helper()
	if seed {
		return testkit.StartBroker(t, port, dir, kfake.SeedTopics(3, topic))
	}
	return testkit.StartBroker(t, port, dir)
}

// The broker goes away mid-stream and comes back on the same port with its log: a subscribed client that
// checks every prev_seq and checksum sees status stale for each book during the outage (and /v1/symbols
// and /readyz say so), then live with a fresh snapshot, and its books follow the exchange's again. No
// wrong book is ever served.
func TestBrokerRestartWithSubscribedClient(t *testing.T) {
	dir, port := t.TempDir(), testkit.FreePort(t)
	first := startBroker(t, port, dir, true)
	brokers := first.ListenAddrs()
	prod := newProducer(t, brokers)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 10, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	keys, values := events(x, 300)
	produce(t, prod, keys, values)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic, PollInterval: 100 * time.Millisecond, OutageTimeout: time.Second}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	c := dialWS(t, m.Addr())
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	keys, values = events(x, 200)
	produce(t, prod, keys, values)
	waitBooks(t, c, x)

	prod.Close()
	first.Close()
	c.readUntil("status stale for every symbol", func() bool {
		for _, s := range syms {
			if !slices.Contains(c.stale, s) {
				return false
			}
		}
		return true
	})
	stale := slices.Clone(syms)
	for i := range stale {
		stale[i] += ":stale"
	}
	if got := symbolsStatus(t, m.Addr()); !slices.Equal(got, stale) {
		t.Errorf("/v1/symbols during the outage: %v, want %v", got, stale)
	}
	if code, _ := httpGet(t, m.Addr(), "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d, want 503", code)
	}

	second := startBroker(t, port, dir, false)
	defer second.Close()
	prod = newProducer(t, second.ListenAddrs())
	keys, values = events(x, 300)
	produce(t, prod, keys, values)
	waitBooks(t, c, x)
	waitFor(t, "/readyz after the outage", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	live := slices.Clone(syms)
	for i := range live {
		live[i] += ":live"
	}
	waitFor(t, "/v1/symbols live", func() bool { return slices.Equal(symbolsStatus(t, m.Addr()), live) })
	for _, s := range syms {
		if c.books[s].updates == 0 {
			t.Errorf("%s: no updates", s)
		}
	}
}
