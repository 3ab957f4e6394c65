package deploy_test

// A real node for the checks that need one: the depthcast binary runs "serve" against an in-process
// Kafka-protocol broker (kfake) that holds good records, a bad one, a duplicate and a gap; WebSocket clients
// subscribe, send a malformed message, close, and one reads too slowly to keep up. What its /metrics shows
// then is what the dashboard, the autoscaler and the adapter rule may query.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	nodeTopic   = "md.events"
	nodeDLTopic = "md.events.rejected"
	nodeWait    = 60 * time.Second // generous: -race on a loaded 2-core machine; waits end when their condition holds
)

// slowClosed matches a slow-consumer count above 0 on /metrics.
var slowClosed = regexp.MustCompile(`(?m)^depthcast_feed_slow_consumers_total(\{[^}]*\})? [1-9]`)

// nodeFacts is what a real node showed.
type nodeFacts struct {
	// metrics maps each sample name on /metrics (depthcast_feed_connections, …_total) to its label names.
	metrics map[string]map[string]bool
	// status is the HTTP status of each probed path.
	status map[string]int
	// stopped is how long the node took to exit after SIGTERM.
	stopped time.Duration
}

var (
	nodeOnce sync.Once
	node     nodeFacts
	nodeErr  error
)

// realNode runs the node once for all tests and returns what it showed.
func realNode(t *testing.T) nodeFacts {
	t.Helper()
	bin := binary(t)
	nodeOnce.Do(func() {
		start := time.Now()
		node, nodeErr = runNode(bin)
		t.Logf("real node ran for %v", time.Since(start).Round(time.Millisecond))
	})
	if nodeErr != nil {
		t.Fatalf("real node: %v", nodeErr)
	}
	return node
}

func runNode(bin string) (nodeFacts, error) {
	facts := nodeFacts{status: map[string]int{}}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, nodeTopic, nodeDLTopic))
	if err != nil {
		return facts, fmt.Errorf("kfake: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(nodeTopic))
	if err != nil {
		return facts, fmt.Errorf("kgo: %w", err)
	}
	defer cl.Close()
	produce := func(recs ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), nodeWait)
		defer cancel()
		var rs []*kgo.Record
		for _, r := range recs {
			key := "BTC-USD"
			if strings.Contains(r, "ETH-USD") {
				key = "ETH-USD"
			}
			rs = append(rs, &kgo.Record{Key: []byte(key), Value: []byte(r)})
		}
		return cl.ProduceSync(ctx, rs...).FirstErr()
	}
	const ts = `"time":"2026-11-24T10:00:00Z"`
	var bids, asks []string
	for i := range 40 {
		bids = append(bids, fmt.Sprintf(`["%d.12","1"]`, 43000-i))
		asks = append(asks, fmt.Sprintf(`["%d.12","1"]`, 43001+i))
	}
	err = produce(
		`{"type":"snapshot","symbol":"BTC-USD","seq":1,`+ts+`,"bids":[`+strings.Join(bids, ",")+`],"asks":[`+strings.Join(asks, ",")+`]}`,
		`{"type":"delta","symbol":"BTC-USD","seq":2,`+ts+`,"bids":[["43000.12","3"]],"asks":[]}`,
		`{"type":"trade","symbol":"BTC-USD","seq":3,`+ts+`,"price":"43001.12","size":"0.5","side":"buy","trade_id":"t-1"}`,
		`not json at all`,
		`{"type":"snapshot","symbol":"ETH-USD","seq":1,`+ts+`,"bids":[["3000","1"]],"asks":[["3001","1"]]}`,
		`{"type":"delta","symbol":"ETH-USD","seq":2,`+ts+`,"bids":[["3000","2"]],"asks":[]}`,
		`{"type":"delta","symbol":"ETH-USD","seq":2,`+ts+`,"bids":[["3000","2"]],"asks":[]}`,
		`{"type":"delta","symbol":"ETH-USD","seq":9,`+ts+`,"bids":[["3000","4"]],"asks":[]}`,
	)
	if err != nil {
		return facts, fmt.Errorf("produce: %w", err)
	}

	cmd := exec.Command(bin, "serve", "--brokers", strings.Join(brokers, ","), "--topic", nodeTopic,
		"--listen", "127.0.0.1:0", "--dead-letter-topic", nodeDLTopic, "--send-queue-bytes", "4096",
		"--send-queue-messages", "16", "--shutdown-timeout", "5s", "--log-level", "error")
	cmd.Env = cleanEnv(nil)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return facts, err
	}
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return facts, err
	}
	exited := make(chan error, 1)
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "depthcast is serving on "); ok {
				addrc <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		stopped = true
		return facts, fmt.Errorf("serve exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(nodeWait):
		return facts, fmt.Errorf("serve did not print its address\n%s", stderr.String())
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	get := func(path string) (int, string, error) {
		resp, err := hc.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if err := waitUntil("/readyz 200", func() bool { c, _, _ := get("/readyz"); return c == http.StatusOK }); err != nil {
		return facts, err
	}
	for _, p := range []string{"/readyz", "/healthz", "/metrics", "/v1/symbols"} {
		c, _, err := get(p)
		if err != nil {
			return facts, fmt.Errorf("GET %s: %w", p, err)
		}
		facts.status[p] = c
	}

	// A client that reads, sends one malformed message and closes normally.
	c, _, err := (&websocket.Dialer{HandshakeTimeout: nodeWait}).Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		return facts, fmt.Errorf("dial: %w", err)
	}
	sub := `{"op":"subscribe","id":1,"channel":"%s","symbols":["BTC-USD"]}`
	for _, m := range []string{fmt.Sprintf(sub, "book"), fmt.Sprintf(sub, "trades"), "nope"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			return facts, fmt.Errorf("write: %w", err)
		}
	}
	for gotError := false; !gotError; {
		_ = c.SetReadDeadline(time.Now().Add(nodeWait))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return facts, fmt.Errorf("read: %w", err)
		}
		gotError = strings.Contains(string(msg), `"type":"error"`)
	}
	// An update while it reads: the feed's latency histogram gets its sample.
	if err := produce(`{"type":"delta","symbol":"BTC-USD","seq":4,` + ts + `,"bids":[["43000.12","4"]],"asks":[]}`); err != nil {
		return facts, fmt.Errorf("produce: %w", err)
	}
	for gotUpdate := false; !gotUpdate; {
		_ = c.SetReadDeadline(time.Now().Add(nodeWait))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return facts, fmt.Errorf("read: %w", err)
		}
		gotUpdate = strings.Contains(string(msg), `"type":"update"`)
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	_ = c.Close()

	// A client that reads nothing, with a small receive buffer: wide deltas until the feed closes it as a
	// slow consumer.
	slow, _, err := slowDialer().Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		return facts, fmt.Errorf("dial: %w", err)
	}
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(sub, "book"))); err != nil {
		return facts, fmt.Errorf("write: %w", err)
	}
	seq := 4
	deadline := time.Now().Add(nodeWait)
	for {
		_, body, err := get("/metrics")
		if err != nil {
			return facts, fmt.Errorf("GET /metrics: %w", err)
		}
		if slowClosed.MatchString(body) { // the counter is there at 0 from the start: wait for a close

			facts.metrics = parseMetrics(body)
			break
		}
		if time.Now().After(deadline) {
			return facts, fmt.Errorf("the slow client was not closed after %d deltas", seq-4)
		}
		var recs []string
		for range 200 {
			seq++
			var lv []string
			for i := range 20 {
				lv = append(lv, fmt.Sprintf(`["%d.12","%d.%03d"]`, 43000-i, seq, i+1))
			}
			recs = append(recs, fmt.Sprintf(`{"type":"delta","symbol":"BTC-USD","seq":%d,%s,"bids":[%s],"asks":[]}`, seq, ts, strings.Join(lv, ",")))
		}
		if err := produce(recs...); err != nil {
			return facts, fmt.Errorf("produce: %w", err)
		}
	}

	// SIGTERM: the node closes its clients and exits 0.
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return facts, err
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			return facts, fmt.Errorf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
		facts.stopped = time.Since(start)
	case <-time.After(nodeWait):
		return facts, fmt.Errorf("serve did not stop within %v of SIGTERM", nodeWait)
	}
	return facts, nil
}

func waitUntil(what string, cond func() bool) error {
	deadline := time.Now().Add(nodeWait)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// slowDialer connects with a 4 KiB receive buffer, set before the connection is made.
func slowDialer() *websocket.Dialer {
	nd := &net.Dialer{Control: testkit.SmallReceiveBuffer}
	return &websocket.Dialer{HandshakeTimeout: nodeWait, NetDial: nd.Dial}
}

// parseMetrics reads the Prometheus text format: sample name -> label names.
func parseMetrics(body string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, s := range testkit.ParsePrometheus(body) {
		labels := out[s.Name]
		if labels == nil {
			labels = map[string]bool{}
			out[s.Name] = labels
		}
		for l := range s.Labels {
			labels[l] = true
		}
	}
	return out
}

// TestRealNode shows what the node exports and that it stops cleanly on SIGTERM well inside the grace
// period the deployments give it.
func TestRealNode(t *testing.T) {
	n := realNode(t)
	for _, p := range []string{"/readyz", "/healthz", "/metrics", "/v1/symbols"} {
		if n.status[p] != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", p, n.status[p])
		}
	}
	for _, want := range []string{"depthcast_feed_connections", "depthcast_ingest_partition_lag", "depthcast_feed_slow_consumers_total"} {
		if n.metrics[want] == nil {
			t.Errorf("/metrics has no %s", want)
		}
	}
	var names []string
	for name, labels := range n.metrics {
		if strings.HasPrefix(name, "depthcast_") {
			var ls []string
			for l := range labels {
				ls = append(ls, l)
			}
			names = append(names, fmt.Sprintf("%s%v", name, ls))
		}
	}
	t.Logf("depthcast metrics: %v; stopped %v after SIGTERM", names, n.stopped)
}
