package feed

import (
	"context"
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
	srv := newBareServer(t, Config{Guard: GuardConfig{MaxConnectionsPerIP: 1}})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
	for i := range 3 {
		var c *websocket.Conn
		var err error
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

// The address the per-IP limits count: X-Forwarded-For only through trusted proxies, read from the right.
func TestClientIP(t *testing.T) {
	g := newGuard(GuardConfig{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}}, nil, nil)
	none := newGuard(GuardConfig{}, nil, nil)
	tests := []struct {
		name   string
		g      *guard
		remote string
		xff    []string
		want   string
	}{
		{"no proxies configured", none, "10.1.2.3:5000", []string{"203.0.113.9"}, "10.1.2.3"},
		{"untrusted peer: header ignored", g, "198.51.100.4:5000", []string{"203.0.113.9"}, "198.51.100.4"},
		{"trusted peer, no header", g, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"trusted peer, one hop", g, "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged entries left of the real one", g, "10.1.2.3:5000", []string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", g, "10.1.2.3:5000", []string{"203.0.113.9, 192.0.2.7, 10.9.9.9"}, "203.0.113.9"},
		{"several header lines", g, "10.1.2.3:5000", []string{"203.0.113.9", "10.2.2.2"}, "203.0.113.9"},
		{"all hops trusted", g, "10.1.2.3:5000", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"malformed hop", g, "10.1.2.3:5000", []string{"203.0.113.9, bogus"}, "10.1.2.3"},
		{"IPv6 peer and client", g, "[2001:db8::1]:5000", []string{"2001:db9::5"}, "2001:db9::5"},
		{"IPv4-mapped client", g, "10.1.2.3:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"empty header", g, "10.1.2.3:5000", []string{""}, "10.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.g.clientIP(r); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
