package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
)

func TestFrameReader(t *testing.T) {
	var stream []byte
	stream = appendServerFrame(stream, []byte(`{"type":"update","time":"2026-11-24T10:00:00Z"}`))
	big := make([]byte, 300)
	stream = appendServerFrame(stream, big)                             // 16-bit length
	stream = append(stream, 0x88, 0x06, 0x03, 0xf5, 's', 'l', 'o', 'w') // close 1013 "slow"
	f := newFrameReader(64)                                             // smaller than the big frame: skipped
	var texts int
	f.onText = func(p []byte) {
		if tf, ok := timeField(p); !ok || string(tf) != "2026-11-24T10:00:00Z" {
			t.Errorf("time field %q %v", tf, ok)
		}
		texts++
	}
	var msgs int64
	for i := 0; i < len(stream); i += 7 { // arrive in 7-byte pieces
		end := min(i+7, len(stream))
		f.w += copy(f.buf[f.w:], stream[i:end])
		msgs += f.process()
	}
	if msgs != 2 || texts != 1 || f.closeCode != 1013 || f.closeReason != "slow" {
		t.Fatalf("msgs %d texts %d close %d %q, want 2 1 1013 \"slow\"", msgs, texts, f.closeCode, f.closeReason)
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	p := []byte("hello")
	b := appendClientFrame(nil, 1, p)
	if b[0] != 0x81 || b[1] != 0x80|5 || len(b) != 2+4+5 {
		t.Fatalf("header % x", b[:2])
	}
	for i := range p {
		if b[6+i]^b[2+i%4] != p[i] {
			t.Fatal("bad mask")
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]int64, 1000)
	for i := range xs {
		xs[i] = int64(i + 1)
	}
	for _, c := range []struct {
		p    float64
		want int64
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}, {0.05, 1}, {0.15, 2}, {99.95, 1000}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
	// The rank against exact integer arithmetic: p = k/100 %, rank = ceil(k·n / 10000). Without the
	// rounding guard, 99.9 % of 1000 (and many others) picks one rank too high.
	for _, k := range []int{1, 10, 5000, 9000, 9500, 9900, 9990, 9999, 10000} {
		for n := 1; n <= 20000; n += 1 + n/50 {
			want := (k*n + 9999) / 10000
			want = max(want, 1)
			if got := nearestRank(float64(k)/100, n); got != want {
				t.Fatalf("rank of p%v over %d = %d, want %d", float64(k)/100, n, got, want)
			}
		}
	}
	if got := nearestRank(99.9, 400_000); got != 399_600 {
		t.Errorf("rank of p99.9 over 400k = %d", got)
	}
	st := summarize([]int64{int64(3 * time.Millisecond), int64(time.Millisecond), int64(2 * time.Millisecond)})
	if st.P50 != 2*time.Millisecond || st.Max != 3*time.Millisecond {
		t.Errorf("summary %+v", st)
	}
	if median([]float64{3, 1, 2, 10}) != 2.5 || median([]float64{5, 1, 3}) != 3 {
		t.Error("median")
	}
}

func TestReportJSONShape(t *testing.T) {
	r := newReport(true)
	r.add(Row{Scenario: "fanout/1k", Metric: "delivered msgs/s", Value: 2e6, Unit: "msg/s", Baseline: "gorilla-hub", BaselineValue: 4e5})
	dir := t.TempDir()
	if err := r.write(dir, r.markdown()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Machine struct {
			CPUModel  string `json:"cpu_model"`
			Cores     int    `json:"cores"`
			GoVersion string `json:"go_version"`
		} `json:"machine"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Machine.Cores == 0 || got.Machine.GoVersion == "" || len(got.Results) != 1 {
		t.Fatalf("%s", b)
	}
	for _, k := range []string{"scenario", "value", "unit", "baseline", "baseline_value", "ratio"} {
		if _, ok := got.Results[0][k]; !ok {
			t.Errorf("result has no %q: %s", k, b)
		}
	}
	if got.Results[0]["ratio"].(float64) != 5 {
		t.Errorf("ratio %v", got.Results[0]["ratio"])
	}
}

func TestGeneratedRecordsDecodeAndApply(t *testing.T) {
	g := newDeltaGen(symbolNames(2), 1)
	d := g.next(time.Now())
	rec := d.record(nil)
	if n := len(rec); n < 100 || n > 200 {
		t.Errorf("record is %d bytes, want 100-200: %s", n, rec)
	}
	up := d.update(nil, nil)
	if n := len(up); n < 100 || n > 220 {
		t.Errorf("update is %d bytes: %s", n, up)
	}
	srv, err := startDepthcast(feedConfigForTest(), symbolNames(2), 50)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	srv.publish(&d)
}

func feedConfigForTest() feed.Config { return feed.Config{Logger: quietLogger} }

func TestModeCode(t *testing.T) {
	if c := modeCode([]float64{1013, 0, 1013}); c != 1013 {
		t.Errorf("mode %d", c)
	}
	if c := modeCode(nil); c != 0 {
		t.Errorf("mode of none %d", c)
	}
}

// TestRawServerDelivers: the sharded raw-TCP ceiling delivers every frame, in order, to clients spread over
// its shards, and drops a client whose pending bytes pass the bound.
func TestRawServerDelivers(t *testing.T) {
	s, err := startRaw()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := &clientOpts{subscribe: func(int) []byte { return s.subscribe(symbolNames(1)) }}
	clients, err := dialAll(ctx, s.addr(), 5, o)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(clients)
	if err := waitMsgs(ctx, clients, 1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	g := newDeltaGen(symbolNames(1), 1)
	for range 2000 {
		d := g.next(time.Now())
		s.publish(&d)
	}
	if err := waitMsgs(ctx, clients, 2001, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A client that does not read is dropped once its pending bytes pass the bound (after the kernel's
	// buffers): it then reads the frames already in its socket and then the end of the stream.
	closeAll(clients)
	s.limit = 64 << 10
	stalled, err := dialClient(ctx, s.addr(), 0, &clientOpts{stalled: func(int) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.abort()
	for i := 0; s.slowClosed() == 0 && i < 200_000; i++ {
		d := g.next(time.Now())
		s.publish(&d)
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the flushers fill the stalled socket
		}
	}
	if s.slowClosed() != 1 {
		t.Fatalf("%d clients dropped, want the stalled one", s.slowClosed())
	}
	stalled.drain(5 * time.Second)
	if stalled.drainErr == nil || errors.Is(stalled.drainErr, os.ErrDeadlineExceeded) || stalled.drained < 64<<10 {
		t.Fatalf("stalled client read %d bytes, then %v; want the end of the stream", stalled.drained, stalled.drainErr)
	}
}

// TestParseUTC checks the clients' time parser against time.Parse, on the producers' format (fractions
// of every length, across month, year and leap-day boundaries) and on forms it hands to time.Parse.
func TestParseUTC(t *testing.T) {
	base := []time.Time{
		time.Date(2026, 11, 24, 21, 43, 8, 123456789, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 12, 0, 0, 100000000, time.UTC),
		time.Date(2100, 1, 1, 0, 0, 0, 5000, time.UTC),
	}
	var in []string
	for _, b := range base {
		for _, cut := range []time.Duration{1, 10, 1000, 1e6, 1e8, 1e9} {
			in = append(in, b.Truncate(cut).Format(time.RFC3339Nano))
		}
	}
	in = append(in, "2026-11-24T21:43:08.5+01:00", "2026-11-24T21:43:08.Z", "2026-13-24T21:43:08Z", "not a time", "2026-11-24T21:43:08.12345678901Z")
	for _, s := range in {
		got, ok := parseUTC([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok != (err == nil) || ok && got != want.UnixNano() {
			t.Errorf("parseUTC(%q) = %d, %v; time.Parse: %d, %v", s, got, ok, want.UnixNano(), err)
		}
	}
}
