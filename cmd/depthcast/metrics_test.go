package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/depthcast/depthcast/schema"
	"github.com/depthcast/depthcast/sim"
	"github.com/twmb/franz-go/pkg/kfake"
)

type nopTap struct{}

func (nopTap) Tap(context.Context, engine.Record) error { return nil }

// documentedMetrics lists the metric names of the README's metrics table, with their kinds.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(depthcast_[a-z_]+)` \\| (counter|gauge|histogram) \\|").FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) < 20 {
		t.Fatalf("the README's metrics table lists %d metrics", len(out))
	}
	return out
}

// A fresh node has every documented counter and gauge on /metrics before any event, each counter at 0 with
// every value its attributes can take, and the subscriptions gauge by channel. Once events flow to
// subscribers, the end-to-end latency histogram has samples per channel, and the seconds since each
// symbol's last event are there for the first --symbol-metrics symbols only.
func TestMetricsFromStart(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0",
		Ingest: ingest.Config{Brokers: brokers, Topic: topic, DeadLetterTopic: "md.dead", Books: engine.Config{Tap: nopTap{}}, PollInterval: 100 * time.Millisecond},
		Hub:    feed.HubConfig{SymbolMetrics: 3}})
	addr := m.Addr()
	waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, addr, "/readyz"); return code == http.StatusOK })
	scrape := func() string {
		code, body := httpGet(t, addr, "/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		return body
	}

	body := scrape()
	for name, kind := range documentedMetrics(t) {
		if kind == "histogram" || name == "depthcast_feed_symbol_event_age_seconds" {
			continue // samples of events, and series of symbols: none yet
		}
		if !regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? `).MatchString(body) {
			t.Errorf("%s (%s) is not on /metrics of a fresh node", name, kind)
		}
	}
	zero := map[string][]string{
		"depthcast_ingest_events_total":             {`type="snapshot"`, `type="delta"`, `type="trade"`},
		"depthcast_ingest_events_skipped_total":     {`reason="duplicate"`, `reason="not_live"`},
		"depthcast_ingest_gaps_total":               {""},
		"depthcast_ingest_deadletter_records_total": {`result="written"`, `result="dropped"`, `result="failed"`},
		"depthcast_feed_connections_opened_total":   {""},
		"depthcast_feed_connections_refused_total": {`reason="max_connections"`, `reason="origin"`, `reason="no_token"`, `reason="bad_token"`,
			`reason="ip_rate"`, `reason="ip_connections"`, `reason="key_connections"`, `reason="symbol"`},
		"depthcast_feed_disconnects_total": {`code="1000",reason="peer"`, `code="1001",reason="shutdown"`, `code="1008",reason="rate_limit"`,
			`code="1013",reason="slow_consumer"`, `code="1013",reason="write_timeout"`, `code="1002",reason="protocol_error"`},
		"depthcast_feed_slow_consumers_total":     {""},
		"depthcast_feed_messages_sent_total":      {""},
		"depthcast_feed_bytes_sent_total":         {""},
		"depthcast_feed_requests_malformed_total": {""},
		"depthcast_feed_subscriptions":            {`channel="book"`, `channel="trades"`},
	}
	for _, r := range schema.Reasons {
		zero["depthcast_ingest_records_rejected_total"] = append(zero["depthcast_ingest_records_rejected_total"], fmt.Sprintf("reason=%q", r))
	}
	for _, p := range []string{"0", "1", "2"} {
		for _, name := range []string{"depthcast_ingest_reader_restarts_total", "depthcast_ingest_records_control_total", "depthcast_ingest_tap_errors_total"} {
			zero[name] = append(zero[name], `partition="`+p+`"`)
		}
	}
	samples := testkit.ParsePrometheus(body)
	for name, labels := range zero {
		for _, l := range labels {
			if v, ok := samples.Value(name, l); !ok || v != 0 {
				t.Errorf("%s{%s}: %v (present %v), want 0 from the start", name, l, v, ok)
			}
		}
	}

	// Events at the current time, to book and trade subscribers of every symbol.
	x, err := sim.New(sim.Config{Symbols: 8, Levels: 10, Seed: 3, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	prod := newProducer(t, brokers)
	keys, values := events(x, 200)
	produce(t, prod, keys, values)
	waitFor(t, "8 symbols", func() bool { return len(symbolsStatus(t, addr)) == 8 })
	c := dialWS(t, addr)
	syms := mustJSON(x.Symbols())
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, syms))
	c.send(fmt.Sprintf(`{"op":"subscribe","id":2,"channel":"trades","symbols":%s}`, syms))
	waitFor(t, "8 book and 8 trade subscriptions", func() bool {
		samples := testkit.ParsePrometheus(scrape())
		b, _ := samples.Value("depthcast_feed_subscriptions", `channel="book"`)
		tr, _ := samples.Value("depthcast_feed_subscriptions", `channel="trades"`)
		return b == 8 && tr == 8
	})
	waitFor(t, "latency samples of both channels", func() bool {
		keys, values := events(x, 100)
		produce(t, prod, keys, values)
		body = scrape()
		samples := testkit.ParsePrometheus(body)
		for _, ch := range []string{"book", "trades"} {
			n, _ := samples.Value("depthcast_feed_latency_seconds_count", `channel="`+ch+`"`)
			// every sample under 10 s: measured from the event's time, which is now
			in10, _ := samples.Value("depthcast_feed_latency_seconds_bucket", `channel="`+ch+`",le="10"`)
			if n == 0 || in10 != n {
				return false
			}
		}
		return true
	})
	ages := regexp.MustCompile(`(?m)^depthcast_feed_symbol_event_age_seconds\{symbol="([^"]+)"\} ([0-9.e+-]+)$`).FindAllStringSubmatch(body, -1)
	if len(ages) != 3 {
		t.Errorf("%d symbols with an event age series, want 3 (--symbol-metrics) of 8: %v", len(ages), ages)
	}
	for _, a := range ages {
		if v, _ := strconv.ParseFloat(a[2], 64); v < 0 || v > 60 {
			t.Errorf("%s: %v seconds since its last event", a[1], v)
		}
	}
}
