package main

// Hostile upstream records over a real Kafka-protocol broker (kfake): records that could mean two things,
// records on another symbol's partition, decimals outside the upstream form. Each is produced with
// franz-go and read by a node, and what a WebSocket client and /metrics see is checked.

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceRecords writes recs in order, waits for the broker's acks and returns the next offset of each
// partition written to.
func produceRecords(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	next := map[int32]int64{}
	for _, r := range res {
		next[r.Record.Partition] = max(next[r.Record.Partition], r.Record.Offset+1)
	}
	return next
}

// metricByLabel reads the samples of a Prometheus metric (name, any unit suffix) from GET /metrics, keyed
// by the value of label.
func metricByLabel(t *testing.T, addr, name, label string) map[string]int64 {
	t.Helper()
	code, body := httpGet(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	named := regexp.MustCompile(`^` + name + `[a-z_]*$`)
	out := map[string]int64{}
	for _, s := range testkit.ParsePrometheus(body) {
		if l, ok := s.Labels[label]; ok && named.MatchString(s.Name) {
			out[l] += int64(s.Value)
		}
	}
	return out
}

// waitRead waits until the node at addr has handed every record before next (per partition) to its
// pipeline: decoded, then refused or queued ahead of anything produced after.
func waitRead(t *testing.T, addr string, next map[int32]int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the node to read up to %v", next), func() bool {
		got := metricByLabel(t, addr, "depthcast_ingest_partition_offset", "partition")
		for p, off := range next {
			if got[strconv.Itoa(int(p))] < off {
				return false
			}
		}
		return true
	})
}

// Records that could corrupt a book, each produced to the partition of its key: two symbols in one record
// (a field named twice, in any letter case), another symbol's partition (key and symbol differ), and
// decimals or levels outside the upstream form. Each is refused and counted by its reason, no book moves,
// no seq advances (the real next delta of each symbol is no duplicate and no gap), and the checksums a
// client gets are those of the real books.
func TestHostileRecordsOverKafka(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	const victim, other = "VICTIM", "OTHER"
	at := `"time":"2026-11-24T10:00:00Z"`
	rec := func(key, value string) *kgo.Record { return &kgo.Record{Key: []byte(key), Value: []byte(value)} }
	produceRecords(t, prod,
		rec(victim, `{"type":"snapshot","symbol":"VICTIM","seq":1,`+at+`,"bids":[["10","1"]],"asks":[["50","1"]]}`),
		rec(other, `{"type":"snapshot","symbol":"OTHER","seq":1,`+at+`,"bids":[["10","1"]],"asks":[["50","1"]]}`))
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	c := dialWS(t, m.Addr())
	c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["VICTIM","OTHER"]}`)
	c.readUntil("both snapshots", func() bool { return c.books[victim] != nil && c.books[other] != nil })

	hostile := []struct {
		name, key, value, reason string
	}{
		{"another symbol's delta on this partition", other,
			`{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["42","42"]]}`, "key_mismatch"},
		{"symbol and SYMBOL", other,
			`{"type":"delta","symbol":"OTHER","SYMBOL":"VICTIM","seq":2,` + at + `,"bids":[["42","42"]]}`, "bad_json"},
		{"symbol twice", other,
			`{"type":"delta","symbol":"OTHER","symbol":"VICTIM","seq":2,` + at + `,"bids":[["42","42"]]}`, "bad_json"},
		{"seq twice", victim,
			`{"type":"delta","symbol":"VICTIM","seq":2,"Seq":3,` + at + `,"bids":[["42","42"]]}`, "bad_json"},
		{"bids twice", victim,
			`{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["11","1"]],"BIDS":[["42","42"]]}`, "bad_json"},
		{"exponent", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["1e1","42"]]}`, "bad_price"},
		{"plus sign", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["+11","42"]]}`, "bad_price"},
		{"leading point", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"asks":[[".5","42"]]}`, "bad_price"},
		{"trailing point", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["11.","42"]]}`, "bad_price"},
		{"size -0", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["10","-0"]]}`, "bad_size"},
		{"three-element level", victim, `{"type":"delta","symbol":"VICTIM","seq":2,` + at + `,"bids":[["42","42","1"]]}`, "bad_json"},
	}
	var recs []*kgo.Record
	want := map[string]int64{}
	for _, h := range hostile {
		recs = append(recs, rec(h.key, h.value))
		want[h.reason]++
	}
	// Every hostile record is read before the real deltas are written: on a node that applied one, the
	// real delta with the same seq would then be a duplicate, and the book would keep 42 x 42.
	waitRead(t, m.Addr(), produceRecords(t, prod, recs...))
	produceRecords(t, prod,
		rec(victim, `{"type":"delta","symbol":"VICTIM","seq":2,`+at+`,"bids":[["11","1"]]}`),
		rec(other, `{"type":"delta","symbol":"OTHER","seq":2,`+at+`,"asks":[["49","2"]]}`))
	c.readUntil("the real deltas", func() bool { return c.books[victim].seq == 2 && c.books[other].seq == 2 })

	if got, want := c.books[victim].top(0), "11:1;10:1;|50:1;"; got != want {
		t.Errorf("VICTIM book %s, want %s", got, want)
	}
	if got, want := c.books[other].top(0), "10:1;|49:2;50:1;"; got != want {
		t.Errorf("OTHER book %s, want %s", got, want)
	}
	if len(c.stale) != 0 {
		t.Errorf("status stale for %v: a refused record must not make a gap", c.stale)
	}
	rejected := metricByLabel(t, m.Addr(), "depthcast_ingest_records_rejected", "reason")
	for reason, n := range want {
		if rejected[reason] != n {
			t.Errorf("records rejected as %s: %d, want %d (all: %v)", reason, rejected[reason], n, rejected)
		}
	}
	if skipped := metricByLabel(t, m.Addr(), "depthcast_ingest_events_skipped", "reason"); skipped["duplicate"] != 0 {
		t.Errorf("%d events skipped as duplicates, want none", skipped["duplicate"])
	}
}
