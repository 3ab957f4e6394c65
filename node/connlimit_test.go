package node_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
	"github.com/gorilla/websocket"
)

// idleInput feeds no books; the node serves its HTTP endpoints.
type idleInput struct{}

func (idleInput) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (idleInput) Do(context.Context, string, func(*book.Book)) error {
	return errors.New("no books")
}
func (idleInput) Ready() bool { return true }

// getOn sends one keep-alive GET /healthz on c and reads its response.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader) error {
	t.Helper()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Plain HTTP connections are reaped once idle, capped per IP whatever they carry (a refused one is counted),
// and a WebSocket outlives the HTTP timeouts (its deadlines are cleared at the upgrade).
func TestHTTPConnectionLimits(t *testing.T) {
	m := nodetest.Start(t, node.Config{Listen: "127.0.0.1:0", HTTPIdleTimeout: 2 * time.Second,
		HTTPReadTimeout: 300 * time.Millisecond, HTTPWriteTimeout: 300 * time.Millisecond, MaxHTTPConnectionsPerIP: 3,
		Input: func(engine.Publisher) (node.Input, error) { return idleInput{}, nil }})

	// Idle keep-alive connections are closed by the server after the idle timeout.
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if err := getOn(t, c, br); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(nodetest.WaitTimeout))
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF from the server closing it", err)
	}
	// After the idle timeout (2 s), not the read timeout (300 ms) that stands in for an unset one.
	if el := time.Since(t0); el < time.Second || el > 10*time.Second {
		t.Fatalf("idle connection closed after %v, want the idle timeout", el)
	}

	// At most 3 open connections from one IP: the fourth is closed at once; after one closes, a new one
	// gets in.
	// (Connections closed just before, such as the idle one above, give their place back a moment later.)
	var held []net.Conn
	testkit.WaitFor(t, nodetest.WaitTimeout, "3 connections held", func() bool {
		for _, c := range held {
			c.Close()
		}
		held = held[:0]
		for range 3 {
			c, err := net.Dial("tcp", m.Addr())
			if err != nil {
				return false
			}
			held = append(held, c)
			_ = c.SetDeadline(time.Now().Add(nodetest.WaitTimeout))
			if getOn(t, c, bufio.NewReader(c)) != nil {
				return false
			}
		}
		return true
	})
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	extra, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetDeadline(time.Now().Add(nodetest.WaitTimeout))
	if err := getOn(t, extra, bufio.NewReader(extra)); err == nil {
		t.Fatal("a fourth connection from the same IP was served, cap 3")
	}
	held[0].Close()
	// The refusal is counted, on the node's /metrics.
	testkit.WaitFor(t, nodetest.WaitTimeout, "the refused connection on /metrics", func() bool {
		cl := &http.Client{Timeout: nodetest.WaitTimeout, Transport: &http.Transport{}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(m.URL("http", "/metrics"))
		if err != nil {
			return false // no place yet
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "depthcast_http_connections_refused_total "); ok {
				n, err := strconv.ParseFloat(v, 64)
				return err == nil && n >= 1
			}
		}
		return false
	})
	testkit.WaitFor(t, nodetest.WaitTimeout, "a place after a close", func() bool {
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(nodetest.WaitTimeout))
		return getOn(t, c, bufio.NewReader(c)) == nil
	})
	for _, c := range held[1:] {
		c.Close()
	}

	// A WebSocket lives past the read, write and idle timeouts of plain HTTP, and does not hold an HTTP place.
	// (The places of the connections just closed come back a moment later.)
	var ws *websocket.Conn
	testkit.WaitFor(t, nodetest.WaitTimeout, "a WebSocket upgrade", func() bool {
		ws, _, err = websocket.DefaultDialer.Dial("ws://"+m.Addr()+"/ws", nil)
		return err == nil
	})
	defer ws.Close()
	// A keep-alive connection served after the upgrade is closed by the server once the idle timeout, the
	// longest of the three, has passed: then the WebSocket has outlived them all.
	later, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	lbr := bufio.NewReader(later)
	if err := getOn(t, later, lbr); err != nil {
		t.Fatal(err)
	}
	_ = later.SetReadDeadline(time.Now().Add(nodetest.WaitTimeout))
	if _, err := lbr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection beside the WebSocket: read %v, want EOF", err)
	}
	for i := range 3 {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":1}`)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(nodetest.WaitTimeout))
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("WebSocket after the HTTP timeouts (%d): %v", i, err)
			}
			if strings.Contains(string(data), `"pong"`) {
				break
			}
		}
	}
	testkit.WaitFor(t, nodetest.WaitTimeout, "three HTTP connections beside the WebSocket", func() bool {
		var cs []net.Conn
		defer func() {
			for _, c := range cs {
				c.Close()
			}
		}()
		for range 3 {
			c, err := net.Dial("tcp", m.Addr())
			if err != nil {
				return false
			}
			cs = append(cs, c)
			_ = c.SetDeadline(time.Now().Add(nodetest.WaitTimeout))
			if getOn(t, c, bufio.NewReader(c)) != nil {
				return false
			}
		}
		return true
	})
}

// Connections from a trusted proxy are not capped per IP: every client behind it shares its address (the
// feed counts those clients by X-Forwarded-For).
func TestHTTPConnectionCapSparesTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		served  int // of 5 connections held open at once
	}{
		{"no trusted proxy", nil, 2},
		{"loopback trusted", []string{"127.0.0.0/8"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := nodetest.Start(t, node.Config{MaxHTTPConnectionsPerIP: 2,
				Feed:  feed.Config{Guard: feed.GuardConfig{TrustedProxies: tc.proxies}},
				Input: func(engine.Publisher) (node.Input, error) { return idleInput{}, nil }})
			served := 0
			for range 5 {
				c, err := net.Dial("tcp", m.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(nodetest.WaitTimeout))
				if getOn(t, c, bufio.NewReader(c)) == nil {
					served++
				}
			}
			if served != tc.served {
				t.Errorf("%d of 5 connections served, want %d", served, tc.served)
			}
		})
	}
}
