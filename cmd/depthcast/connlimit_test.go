package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/ingest"
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

// Plain HTTP connections are reaped once idle, capped per IP whatever they carry, and a WebSocket outlives
// the HTTP timeouts (its deadlines are cleared at the upgrade).
func TestHTTPConnectionLimits(t *testing.T) {
	m, stop := startMain(t, MainConfig{Listen: "127.0.0.1:0", HTTPIdleTimeout: 2 * time.Second,
		HTTPReadTimeout: 300 * time.Millisecond, HTTPWriteTimeout: 300 * time.Millisecond, MaxHTTPConnectionsPerIP: 3,
		Input: func(ingest.Publisher) (Input, error) { return idleInput{}, nil }})
	defer stop()

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
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	t0 := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF from the server closing it", err)
	}
	if el := time.Since(t0); el > 10*time.Second {
		t.Fatalf("idle connection closed after %v", el)
	}

	// At most 3 open connections from one IP: the fourth is closed at once; after one closes, a new one
	// gets in.
	// (Connections closed just before, such as the idle one above, give their place back a moment later.)
	var held []net.Conn
	waitFor(t, "3 connections held", func() bool {
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
			_ = c.SetDeadline(time.Now().Add(waitTimeout))
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
	_ = extra.SetDeadline(time.Now().Add(waitTimeout))
	if err := getOn(t, extra, bufio.NewReader(extra)); err == nil {
		t.Fatal("a fourth connection from the same IP was served, cap 3")
	}
	held[0].Close()
	waitFor(t, "a place after a close", func() bool {
		c, err := net.Dial("tcp", m.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		return getOn(t, c, bufio.NewReader(c)) == nil
	})
	for _, c := range held[1:] {
		c.Close()
	}

	// A WebSocket lives past the read, write and idle timeouts of plain HTTP, and does not hold an HTTP place.
	// (The connections just closed give their places back a moment later: dial until one is free.)
	var ws *websocket.Conn
	waitFor(t, "a WebSocket connection", func() bool {
		ws, _, err = websocket.DefaultDialer.Dial("ws://"+m.Addr()+"/ws", nil)
		return err == nil
	})
	defer ws.Close()
	time.Sleep(2500 * time.Millisecond) // past all three timeouts on purpose
	for i := range 3 {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":1}`)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
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
	waitFor(t, "three HTTP connections beside the WebSocket", func() bool {
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
			_ = c.SetDeadline(time.Now().Add(waitTimeout))
			if getOn(t, c, bufio.NewReader(c)) != nil {
				return false
			}
		}
		return true
	})
}
