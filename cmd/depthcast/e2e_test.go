package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// events draws n events from x as record keys and values.
func events(x *sim.Exchange, n int) (keys []string, values [][]byte) {
	for range n {
		e := x.Next()
		keys = append(keys, e.Key)
		values = append(values, e.Value)
	}
	return keys, values
}

// nextSeq returns the seq the next event of symbol will carry, given the events written so far.
func nextSeq(values [][]byte, symbol string) uint64 {
	var last uint64
	for _, v := range values {
		var e struct {
			Symbol string
			Seq    uint64
		}
		if json.Unmarshal(v, &e) == nil && e.Symbol == symbol {
			last = e.Seq
		}
	}
	return last + 1
}

// waitBooks reads c until its book of every symbol equals the exchange's.
func waitBooks(t *testing.T, c *wsClient, x *sim.Exchange) {
	t.Helper()
	c.readUntil("the client's books to equal the exchange's", func() bool {
		for _, sym := range x.Symbols() {
			b := c.books[sym]
			if b == nil || b.top(0) != exchangeBook(x.Book(sym)) {
				return false
			}
		}
		return true
	})
}

// The whole path over TCP: a franz-go producer writes order flow to kfake, a node reads it from every
// partition, and a WebSocket client's books follow the exchange's, through history and live flow, past
// malformed records; Close sends every client 1001 and leaves nothing running.
func TestServeEndToEnd(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	x, err := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	var all [][]byte
	keys, values := events(x, 300) // history before the node starts
	produce(t, prod, keys, values)
	all = append(all, values...)

	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic}})
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, m.Addr(), "/readyz"); return code == http.StatusOK })
	if code, body := httpGet(t, m.Addr(), "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}

	c := dialWS(t, m.Addr())
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	c.send(fmt.Sprintf(`{"op":"subscribe","id":2,"channel":"trades","symbols":%s}`, mustJSON(syms)))
	waitBooks(t, c, x)

	// Live flow, with malformed records in the middle. The last one carries the next seq of its symbol: a
	// rejected record does not advance the seq, so the real event with that seq that follows is no gap.
	keys, values = events(x, 500)
	produce(t, prod, keys, values)
	all = append(all, values...)
	bad := []string{
		`not json at all`,
		`{"type":"delta","symbol":`,
		`{"type":"teleport","symbol":"` + syms[0] + `","seq":1}`,
		`{"type":"snapshot","seq":5,"bids":[],"asks":[]}`,
		``,
		fmt.Sprintf(`{"type":"delta","symbol":%q,"seq":%d,"time":"2026-11-24T10:00:00Z","bids":[["abc","1"]],"asks":[]}`, syms[1], nextSeq(all, syms[1])),
	}
	var badKeys []string
	var badValues [][]byte
	for _, v := range bad {
		badKeys = append(badKeys, syms[1])
		badValues = append(badValues, []byte(v))
	}
	produce(t, prod, badKeys, badValues)
	keys, values = events(x, 500)
	produce(t, prod, keys, values)
	waitBooks(t, c, x)

	if len(c.stale) != 0 {
		t.Errorf("status stale for %v: a malformed record must not make a gap", c.stale)
	}
	for _, sym := range syms {
		if c.books[sym].updates == 0 || c.trades[sym] == 0 {
			t.Errorf("%s: %d updates and %d trades, want both", sym, c.books[sym].updates, c.trades[sym])
		}
	}
	want := []string{}
	for _, sym := range syms {
		want = append(want, sym+":live")
	}
	slices.Sort(want)
	if got := symbolsStatus(t, m.Addr()); !slices.Equal(got, want) {
		t.Errorf("/v1/symbols: %v, want %v", got, want)
	}
	if code, body := httpGet(t, m.Addr(), "/metrics"); code != http.StatusOK || !containsAll(body, "depthcast_feed_", "go_goroutines") {
		t.Errorf("/metrics: %d, %.300s", code, body)
	}

	// Close: every client, subscribed or not, gets 1001 and a reason.
	other := dialWS(t, m.Addr())
	subscribed, idle := c.awaitClose(), other.awaitClose()
	m.Stop()
	checkClose(t, "subscribed client", subscribed, 1001)
	checkClose(t, "idle client", idle, 1001)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Upstream producers compress record batches; the node reads gzip, snappy, lz4 and zstd batches alike.
// Each symbol is written by its own producer with its own codec, all to one topic, and the books follow.
func TestServeCompressedBatches(t *testing.T) {
	brokers := newCluster(t)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		id    int // attribute bits of a record batch
	}{
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	x, err := sim.New(sim.Config{Symbols: len(codecs), Levels: 30, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	syms := x.Symbols()
	producers := map[string]*kgo.Client{}
	for i, cc := range codecs {
		producers[syms[i]] = newProducer(t, brokers, kgo.ProducerBatchCompression(cc.codec), kgo.ProducerLinger(5*time.Millisecond))
	}
	// writeEvents writes n events, each symbol's through its producer, one batch per producer.
	writeEvents := func(n int) {
		byProducer := map[string][][]byte{}
		keys, values := events(x, n)
		for i, k := range keys {
			byProducer[k] = append(byProducer[k], values[i])
		}
		for sym, vs := range byProducer {
			ks := make([]string, len(vs))
			for i := range ks {
				ks[i] = sym
			}
			produce(t, producers[sym], ks, vs)
		}
	}
	writeEvents(400)
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", Ingest: ingest.Config{Brokers: brokers, Topic: topic}})
	c := dialWS(t, m.Addr())
	waitFor(t, "every symbol to be known", func() bool { return len(symbolsStatus(t, m.Addr())) == len(syms) })
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(syms)))
	waitBooks(t, c, x)
	writeEvents(1500)
	waitBooks(t, c, x)

	// The topic does hold batches of every codec (so the test did read them).
	got := batchCodecs(t, brokers)
	for _, cc := range codecs {
		if !slices.Contains(got, cc.id) {
			t.Errorf("no %s batch in the topic (codecs %v)", cc.name, got)
		}
	}
}

// batchCodecs fetches every partition raw and returns the compression codec of each stored record batch.
func batchCodecs(t *testing.T, brokers []string) []int {
	t.Helper()
	cl := newProducer(t, brokers, kgo.MaxVersions(kversion.V2_8_0())) // fetch by topic name
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 100
	req.MaxBytes = 50 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 50 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	var codecs []int
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			b := rp.RecordBatches
			for len(b) >= 12 {
				n := 12 + int(binary.BigEndian.Uint32(b[8:12]))
				if n > len(b) {
					break
				}
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(b[:n]); err != nil {
					t.Fatalf("record batch: %v", err)
				}
				codecs = append(codecs, int(batch.Attributes&7))
				b = b[n:]
			}
		}
	}
	return codecs
}
