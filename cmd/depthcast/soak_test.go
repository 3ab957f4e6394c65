package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// soakDuration is 45 s, or DEPTHCAST_SOAK (a Go duration such as 5m).
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("DEPTHCAST_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("DEPTHCAST_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 45 * time.Second
}

// soakStats counts what the churning clients did.
type soakStats struct {
	sessions, stalls, slow, updates, snapshots, trades, unsubscribed, unavailable atomic.Int64
}

// soakClient is one connection of the soak: it subscribes to some books (random depth and interval) and
// maybe trades, checks every book message (prev_seq chain, checksum over the subscription's depth), and
// unsubscribes and disconnects after a while.
type soakClient struct {
	conn  *websocket.Conn
	books map[string]*localBook
	depth int
}

func (c *soakClient) apply(m wsMsg) error {
	b := c.books[m.Symbol]
	if m.Type == "snapshot" {
		b = &localBook{bids: map[string]string{}, asks: map[string]string{}}
		c.books[m.Symbol] = b
	} else if b == nil || m.PrevSeq == nil || *m.PrevSeq != b.seq {
		return fmt.Errorf("update does not follow the last seq: %s", m.raw)
	}
	for i, side := range [][][]string{m.Bids, m.Asks} {
		dst := b.bids
		if i == 1 {
			dst = b.asks
		}
		for _, l := range side {
			if len(l) != 2 {
				return fmt.Errorf("bad level in %s", m.raw)
			}
			if l[1] == "0" {
				delete(dst, l[0])
			} else {
				dst[l[0]] = l[1]
			}
		}
	}
	b.seq = m.Seq
	n := 10
	if c.depth > 0 && c.depth < n {
		n = c.depth
	}
	if c.depth > 0 && (len(b.bids) > c.depth || len(b.asks) > c.depth) {
		return fmt.Errorf("book over depth %d after %s", c.depth, m.raw)
	}
	if m.Checksum == nil || *m.Checksum != crc32.ChecksumIEEE([]byte(b.top(n))) {
		return fmt.Errorf("checksum mismatch after %s (book %s)", m.raw, b.top(n))
	}
	return nil
}

// session runs one client's life. It returns an error for a protocol violation only.
func soakSession(ctx context.Context, addr string, syms []string, rng *rand.Rand, stall bool, st *soakStats) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if stall {
		d.NetDialContext = smallBuffers.DialContext
	}
	conn, _, err := d.DialContext(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	st.sessions.Add(1)
	depths := []int{0, 1, 5, 10, 25}
	c := &soakClient{conn: conn, books: map[string]*localBook{}, depth: depths[rng.IntN(len(depths))]}
	interval := []int{0, 0, 50, 200}[rng.IntN(4)]
	mine := syms
	if !stall {
		mine = slices.Clone(syms)
		rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		mine = mine[:1+rng.IntN(len(mine))]
	} else {
		c.depth, interval = 0, 0
	}
	symsJSON, _ := json.Marshal(mine)
	send := func(s string) error {
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(websocket.TextMessage, []byte(s))
	}
	if err := send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s,"depth":%d,"interval_ms":%d}`, symsJSON, c.depth, interval)); err != nil {
		return nil
	}
	if rng.IntN(2) == 0 {
		_ = send(fmt.Sprintf(`{"op":"subscribe","id":2,"channel":"trades","symbols":%s}`, symsJSON))
	}
	if stall {
		// Read nothing for 30 s: past the socket buffers and the send queue, the feed closes it with 1013
		// and, the close frame not getting out within its write timeout, drops it. Then read what is left.
		st.stalls.Add(1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(30 * time.Second):
		}
		for end := time.Now().Add(2 * time.Second); ctx.Err() == nil && time.Now().Before(end); {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code == 1013 {
					st.slow.Add(1)
				}
				return nil
			}
		}
		return nil
	}
	readFor := time.Duration(200+rng.IntN(1300)) * time.Millisecond
	until := time.Now().Add(readFor)
	unsubscribed := false
	for ctx.Err() == nil {
		if !unsubscribed && time.Now().After(until) {
			if err := send(fmt.Sprintf(`{"op":"unsubscribe","id":3,"channel":"book","symbols":%s}`, symsJSON)); err != nil {
				return nil
			}
			unsubscribed = true
		}
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == 1013 { // a burst outran its queue: the feed's policy
				st.slow.Add(1)
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		var m wsMsg
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("not JSON: %s", data)
		}
		m.raw = string(data)
		switch m.Type {
		case "snapshot", "update":
			if unsubscribed {
				continue // may still be on its way
			}
			if m.Type == "snapshot" {
				st.snapshots.Add(1)
			} else {
				st.updates.Add(1)
			}
			if err := c.apply(m); err != nil {
				return err
			}
		case "trade":
			st.trades.Add(1)
		case "error":
			if m.Code == "unavailable" { // the book's writer was too busy to answer in time (overload)
				st.unavailable.Add(1)
				continue
			}
			return fmt.Errorf("error reply: %s", data)
		case "unsubscribed":
			st.unsubscribed.Add(1)
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
			return nil
		}
	}
	return nil
}

var closed1013Line = regexp.MustCompile(`(?m)^depthcast_feed_disconnects_total\{[^}]*code="1013"[^}]*\} (\d+)`)

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A demo node (kfake and the simulated exchange at 1000 events/s) under churning clients: each connects,
// subscribes to random symbols, depths and intervals, reads and verifies a while, unsubscribes and goes;
// some stall until the feed closes them with 1013. At the end no goroutine is left and the heap after GC
// is within 1.5x + 8 MiB of the heap after the warm-up. DEPTHCAST_SOAK=5m runs it longer;
// DEPTHCAST_SOAK_HEAP=FILE writes a heap profile at the end.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped in -short mode")
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dur := soakDuration(t)

	// The demo's embedded broker, keeping only the last 2 MiB of each partition (cleaned every second), so
	// that the heap measures the node, not a growing log.
	cluster, err := newEmbeddedBroker(topic, 3, time.Hour, 2<<20, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	brokers := cluster.ListenAddrs()
	x, err := sim.New(sim.Config{Symbols: 8, Levels: 20, Seed: 11, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() {
		simDone <- sim.Run(simCtx, x, sim.WriterConfig{Brokers: brokers, Topic: topic, Rate: 1000, Logger: quietLogger()})
	}()
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0",
		Ingest: ingest.Config{Brokers: brokers, Topic: topic},
		Feed:   feed.Config{SendQueueBytes: 64 << 10, WriteTimeout: 2 * time.Second, Heartbeat: 500 * time.Millisecond},
		Hub:    feed.HubConfig{ViewLinger: 2 * time.Second}})
	waitFor(t, "every symbol live", func() bool {
		st := symbolsStatus(t, m.Addr())
		n := 0
		for _, s := range st {
			if len(s) > 5 && s[len(s)-5:] == ":live" {
				n++
			}
		}
		return n == len(syms)
	})

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var st soakStats
	var wg sync.WaitGroup
	var failures atomic.Int64
	const workers = 6
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				// Worker 0's clients stall; the others read.
				if err := soakSession(ctx, m.Addr(), syms, rng, w == 0, &st); err != nil {
					if failures.Add(1) <= 5 {
						t.Errorf("client %d: %v", w, err)
					}
				}
			}
		})
	}
	warm := dur / 5
	time.Sleep(warm)
	warmHeap := heapAfterGC()
	warmGoroutines := runtime.NumGoroutine()
	<-ctx.Done()
	wg.Wait()
	time.Sleep(3 * time.Second) // views linger 2 s after their last subscriber
	endHeap := heapAfterGC()
	t.Logf("%v: %d sessions (%d stalled, %d closed 1013), %d snapshots, %d updates, %d trades, %d unsubscribed, %d subscriptions unavailable",
		dur, st.sessions.Load(), st.stalls.Load(), st.slow.Load(), st.snapshots.Load(), st.updates.Load(), st.trades.Load(),
		st.unsubscribed.Load(), st.unavailable.Load())
	if p := os.Getenv("DEPTHCAST_SOAK_HEAP"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.WriteHeapProfile(f)
		_ = f.Close()
	}
	t.Logf("heap after GC: %.1f MiB after the warm-up (%v, %d goroutines), %.1f MiB at the end (%d goroutines)",
		float64(warmHeap)/(1<<20), warm, warmGoroutines, float64(endHeap)/(1<<20), runtime.NumGoroutine())
	if limit := warmHeap*3/2 + 8<<20; endHeap > limit {
		t.Errorf("heap grew: %d bytes at the end, over %d (1.5x the %d after the warm-up + 8 MiB)", endHeap, limit, warmHeap)
	}
	if st.updates.Load() == 0 || st.unsubscribed.Load() == 0 {
		t.Error("the clients received no updates or never unsubscribed")
	}
	// A stalled client fills its socket and send queue in about 30 s at this rate: closed with 1013 as a slow
	// consumer, or for a write that timed out.
	_, body := httpGet(t, m.Addr(), "/metrics")
	closed1013 := 0
	for _, l := range closed1013Line.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(l[1])
		closed1013 += n
	}
	t.Logf("closed with 1013: %d (%d stalled clients read the close frame)", closed1013, st.slow.Load())
	if dur >= 40*time.Second && closed1013 == 0 {
		t.Error("no stalled client was closed with 1013")
	}

	m.Stop()
	stopSim()
	if err := <-simDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("simulated exchange: %v", err)
	}
	cluster.Close()
}

// smallBuffers dials client sockets with a small receive buffer, so that a stalled client fills up sooner.
var smallBuffers = &net.Dialer{Control: testkit.SmallReceiveBuffer}
