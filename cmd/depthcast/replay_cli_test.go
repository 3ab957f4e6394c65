package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/sim"
	"github.com/gorilla/websocket"
)

// writeRecording records n events of a simulated exchange into a new directory, with the exchange's own
// event times, and returns the directory and the exchange after them.
func writeRecording(t *testing.T, n int) (string, *sim.Exchange) {
	t.Helper()
	dir := t.TempDir()
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 4})
	for i := range n {
		e := x.Next()
		if err := rec.Write(engine.Record{Offset: int64(i), Time: e.Time, Key: []byte(e.Key), Value: e.Value}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, x
}

// depthcast replay serves a recording with no Kafka: /ws ends with the recording's books, and /replay
// plays it again privately, with its errors.
func TestReplayCommand(t *testing.T) {
	dir, x := writeRecording(t, 2000)
	addr, stop := runInBackground(t, "replay", "--in", dir, "--listen", "127.0.0.1:0", "--speed", "0", "--log-level", "warn")
	waitFor(t, "the replay to finish", func() bool { return symbolsAt(t, addr, x) })
	if code, _ := httpGet(t, addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
	c := dialWS(t, addr)
	c.send(fmt.Sprintf(`{"op":"subscribe","id":1,"channel":"book","symbols":%s}`, mustJSON(x.Symbols())))
	waitBooks(t, c, x)

	r := dialPath(t, addr, "/replay")
	r.send(`{"op":"replay","id":3,"symbols":["NOPE-USD"]}`)
	if m, _ := r.read(); m.Type != "error" || m.Code != "unknown_symbol" {
		t.Fatalf("unknown symbol: %s", m.raw)
	}
	states, raws := replayAll(t, addr, x.Symbols())
	if len(raws) < 1000 || len(states) != 3 {
		t.Fatalf("%d messages, books of %d symbols", len(raws), len(states))
	}
	stop()
}

func TestReplayCommandUsage(t *testing.T) {
	dir, _ := writeRecording(t, 10)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no --in", []string{"replay"}, 2, "--in is required"},
		{"bad speed", []string{"replay", "--in", dir, "--speed", "-1"}, 2, "--speed"},
		{"bad time", []string{"replay", "--in", dir, "--from", "noon"}, 2, "RFC 3339"},
		{"from after to", []string{"replay", "--in", dir, "--from", "2026-11-24T11:00:00Z", "--to", "2026-11-24T10:00:00Z"}, 2, "--from is after --to"},
		{"no recording", []string{"replay", "--in", t.TempDir() + "/missing", "--listen", "127.0.0.1:0"}, 1, "open recording"},
		{"help", []string{"help", "replay"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr testkit.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code := run(ctx, tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.inStderr) {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
		})
	}
}

// serve's /replay reads the Kafka topic by timestamp, or a recordings directory with --recordings.
func TestServeReplaySources(t *testing.T) {
	brokers := newCluster(t)
	prod := newProducer(t, brokers)
	x, _ := sim.New(sim.Config{Symbols: 3, Levels: 20, Seed: 8})
	keys, values := events(x, 1500)
	produce(t, prod, keys, values)
	dir, rx := writeRecording(t, 1200)
	for _, tc := range []struct {
		name  string
		extra []string
		want  *sim.Exchange
	}{
		{"kafka", nil, x},
		{"recordings", []string{"--recordings", dir}, rx},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--brokers", strings.Join(brokers, ","), "--listen", "127.0.0.1:0", "--log-level", "warn"}, tc.extra...)
			addr, stop := runInBackground(t, args...)
			defer stop()
			// Over the topic, the symbols a replay may ask for are those the live feed knows.
			waitFor(t, "/readyz", func() bool { code, _ := httpGet(t, addr, "/readyz"); return code == http.StatusOK })
			r := dialPath(t, addr, "/replay")
			r.send(fmt.Sprintf(`{"op":"replay","id":1,"symbols":%s,"channels":["book"],"speed":0}`, mustJSON(tc.want.Symbols())))
			for {
				m, err := r.read()
				if err != nil {
					t.Fatal(err)
				}
				if m.Type == "replay_end" {
					break
				}
			}
			if !booksEqual(r, tc.want) {
				t.Fatal("the replay's books at its end are not the exchange's")
			}
		})
	}
}

// depthcast replay takes serve's security flags: over TLS with a key file, /ws and /replay refuse a
// handshake without a key (401) and serve one with it.
func TestReplayCommandTLSAndKeys(t *testing.T) {
	dir, x := writeRecording(t, 500)
	certPath, keyPath, pool := selfSigned(t)
	key, line := newKeyLine(t, auth.Grant{Name: "backtest"})
	keys := filepath.Join(t.TempDir(), "keys")
	writeFileAtomic(t, keys, line+"\n")
	var out testkit.Buffer
	addr, stop := runInBackgroundOut(t, &out, "replay", "--in", dir, "--listen", "127.0.0.1:0", "--speed", "0",
		"--tls-cert", certPath, "--tls-key", keyPath, "--auth-keys", keys, "--log-level", "error")
	defer stop()
	for _, want := range []string{"wss://" + addr + "/ws", "wss://" + addr + "/replay", "https://" + addr + "/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay did not print %s:\n%s", want, out.String())
		}
	}
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: waitTimeout}
	for _, path := range []string{"/ws", "/replay"} {
		if c, resp, err := d.Dial("wss://"+addr+path, nil); err == nil {
			_ = c.Close()
			t.Fatalf("%s without a key: upgraded", path)
		} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without a key: %v %v, want 401", path, resp, err)
		}
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+key)
	c, _, err := d.Dial("wss://"+addr+"/replay", h)
	if err != nil {
		t.Fatalf("/replay with the key: %v", err)
	}
	defer c.Close()
	req := fmt.Sprintf(`{"op":"replay","id":1,"channels":["book"],"symbols":%s,"speed":0}`, mustJSON(x.Symbols()))
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(types), err)
		}
		var m struct{ Type, Reason string }
		_ = json.Unmarshal(b, &m)
		types = append(types, m.Type)
		if m.Type == "error" {
			t.Fatalf("replay refused: %s", b)
		}
		if m.Type == "replay_end" {
			if m.Reason != "done" {
				t.Fatalf("replay_end %s", b)
			}
			break
		}
	}
	if len(types) < 100 || types[0] != "replay_started" {
		t.Fatalf("%d messages over wss, first %q", len(types), types[0])
	}
}
