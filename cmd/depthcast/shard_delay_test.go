package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// levelsBelow renders n bid levels of size 1 at prices that fall from just below 100000: the k-th (k from
// first on) at 99999.9999 - k/10000.
func levelsBelow(first, n int) string {
	var b strings.Builder
	for k := first; k < first+n; k++ {
		if k > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `["%d.%04d","1"]`, 99999-k/10000, 9999-k%10000)
	}
	return b.String()
}

// A symbol whose deltas would make its shard's writer crawl cannot hold up the other symbols of that shard,
// as the probe did: fifty valid deltas that each add 20,000 levels below the book. The node has one
// shard; BAD's deltas go to one partition, GOOD's to another. The first of BAD's deltas passes the level
// limit (10,000 a side) and is refused; BAD goes stale until its next snapshot, and its later deltas cost
// the shard nothing. Once the node has read them all (decoding them is the readers' work, bounded per
// record by the record limits), GOOD's next delta reaches a client and GET /v1/book within a bound. Without
// the limit, the shard merges each delta into an ever larger book and GOOD waits for minutes.
func TestPathologicalSymbolDoesNotDelayItsShard(t *testing.T) {
	// bound is GOOD's delay once BAD's records are read: a fetch, one small delta, a WebSocket write, and
	// what is left of BAD's deltas on the shard. It is generous for -race on a loaded machine.
	const (
		deltas = 50
		bound  = 3 * time.Second
	)
	at := `"time":"2026-11-24T10:00:00Z"`
	brokers := newCluster(t)
	prod := newProducer(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rec := func(part int32, key, value string) *kgo.Record {
		return &kgo.Record{Partition: part, Key: []byte(key), Value: []byte(value)}
	}
	produceRecords(t, prod,
		rec(0, "BAD", `{"type":"snapshot","symbol":"BAD","seq":1,`+at+`,"bids":[["100000","1"]],"asks":[["100001","1"]]}`),
		rec(1, "GOOD", `{"type":"snapshot","symbol":"GOOD","seq":1,`+at+`,"bids":[["10","1"]],"asks":[["11","1"]]}`))
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0",
		Ingest: ingest.Config{Brokers: brokers, Topic: topic, Books: engine.Config{Shards: 1}}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	c := dialWS(t, m.Addr())
	c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["GOOD","BAD"],"depth":10}`)
	c.readUntil("both snapshots", func() bool { return c.books["GOOD"] != nil && c.books["BAD"] != nil })

	var recs []*kgo.Record
	for i := range deltas {
		recs = append(recs, rec(0, "BAD", fmt.Sprintf(`{"type":"delta","symbol":"BAD","seq":%d,%s,"bids":[%s]}`, 2+i, at, levelsBelow(i*20000, 20000))))
	}
	start := time.Now()
	waitRead(t, m.Addr(), produceRecords(t, prod, recs...))
	read := time.Since(start)

	start = time.Now()
	produceRecords(t, prod, rec(1, "GOOD", `{"type":"delta","symbol":"GOOD","seq":2,`+at+`,"bids":[["9","1"]]}`))
	c.readUntil("GOOD's delta", func() bool { return c.books["GOOD"].seq == 2 })
	code, body := httpGet(t, m.Addr(), "/v1/book/GOOD")
	delay := time.Since(start)
	t.Logf("BAD's %d deltas produced and read in %v; GOOD's delta then took %v", deltas, read, delay)
	if delay > bound {
		t.Errorf("GOOD's delta reached the client and /v1/book %v after it was produced, bound %v", delay, bound)
	}
	var good struct{ Seq uint64 }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &good) != nil || good.Seq != 2 {
		t.Errorf("GET /v1/book/GOOD: %d %.200s, want 200 at seq 2", code, body)
	}
	if got := c.books["GOOD"].top(0); got != "10:1;9:1;|11:1;" {
		t.Errorf("GOOD book %s", got)
	}

	// BAD's first delta was refused for the level limit and BAD is stale at seq 1 with its snapshot's book.
	c.readUntil("status stale for BAD", func() bool { return len(c.stale) > 0 })
	if c.stale[0] != "BAD" || c.books["BAD"].seq != 1 {
		t.Errorf("stale %v, BAD at seq %d: want BAD stale at seq 1", c.stale, c.books["BAD"].seq)
	}
	if got := symbolsStatus(t, m.Addr()); !slices.Equal(got, []string{"BAD:stale", "GOOD:live"}) {
		t.Errorf("/v1/symbols %v, want BAD stale and GOOD live", got)
	}
	rejected := metricByLabel(t, m.Addr(), "depthcast_ingest_records_rejected", "reason")
	maps.DeleteFunc(rejected, func(_ string, n int64) bool { return n == 0 }) // every reason is there from the start
	if rejected["too_many_levels"] != 1 || len(rejected) != 1 {
		t.Errorf("records rejected %v, want one too_many_levels", rejected)
	}
}
