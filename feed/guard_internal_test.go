package feed

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Whatever way a request asks for a WebSocket upgrade, the guard sees it.
func TestIsUpgrade(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{"Upgrade": {"websocket"}}, true},
		{http.Header{"Upgrade": {"WebSocket"}}, true},
		{http.Header{"Upgrade": {"h2c, websocket"}}, true},
		{http.Header{"Upgrade": {"h2c", " websocket "}}, true},
		{http.Header{"Upgrade": {"h2c"}}, false},
		{http.Header{"Upgrade": {"websockets"}}, false},
		{http.Header{}, false},
	} {
		if got := isUpgrade(&http.Request{Header: tc.h}); got != tc.want {
			t.Errorf("isUpgrade(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

// The /ws route claims its admission, so its session writes to the server's own TCP connection (writev),
// and still gives its slots back when it ends.
func TestWSKeepsTCPConn(t *testing.T) {
	srv, err := New(Config{Guard: GuardConfig{MaxConnectionsPerIP: 1}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	for i := range 3 {
		var c *websocket.Conn
		deadline := time.Now().Add(10 * time.Second)
		for c == nil {
			c, _, err = websocket.DefaultDialer.Dial(url, nil)
			if err != nil && time.Now().After(deadline) {
				t.Fatalf("dial %d: %v", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		sessions := srv.sessionList()
		if len(sessions) != 1 {
			t.Fatalf("%d sessions, want 1", len(sessions))
		}
		if _, ok := sessions[0].nc.Conn.(*net.TCPConn); !ok {
			t.Fatalf("the session writes to a %T, want *net.TCPConn", sessions[0].nc.Conn)
		}
		_ = c.Close()
	}
}
