package feed_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
)

// startRawFeed starts a node on a real TCP listener for tb and returns its feed and address; it stops when
// tb ends.
func startRawFeed(tb testing.TB) (*feed.Server, string) {
	tb.Helper()
	n := nodetest.Start(tb, node.Config{MaxHTTPConnectionsPerIP: -1, Feed: feed.Config{
		// The fuzzer connects twice per input from one address, far faster than a client may.
		Guard: feed.GuardConfig{MaxConnectionsPerIP: 1 << 20, ConnectRatePerIP: 1e9, ConnectBurstPerIP: 1 << 30}}})
	return n.Feed(), n.Addr()
}

// FuzzRawFrames drives the real server path with arbitrary bytes after a valid handshake (the first byte's
// low bit asks for permessage-deflate): whatever the bytes, the process stays up, the server never closes
// the connection as its own failure (1011 internal_error, or a panic contained on the read loop), and a
// fresh client is still served.
func FuzzRawFrames(f *testing.F) {
	for _, p := range rawProbes(f) {
		if len(p.bytes) > 4096 {
			continue // the deflate bomb: the fuzzer mutates better from the small seeds
		}
		flag := byte(0)
		if p.deflate {
			flag = 1
		}
		f.Add(append([]byte{flag}, p.bytes...))
	}
	f.Add(append([]byte{1}, maskedFrame(0xc1, compress(f, []byte(`{"op":"ping","id":1}`)))...))
	f.Add(append([]byte{0}, maskedFrame(0x81, []byte(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD"]}`))...))
	srv, addr := startRawFeed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		deflate := data[0]&1 != 0
		rc := rawUpgrade(t, addr, deflate)
		_ = rc.c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_ = rc.write(data[1:], false)
		for {
			if _, _, err := rc.readFrame(); err != nil {
				break // closed by the server, or nothing more within the deadline
			}
		}
		_ = rc.c.Close()
		waitFor(t, "the server to close its side", func() bool { return srv.Stats().Connections == 0 })
		for _, c := range srv.Stats().Closes {
			if c.Reason == feed.ReasonInternal.String() || c.Reason == feed.ReasonPanic.String() {
				t.Fatalf("client bytes closed a connection as the server's own failure: %s (%d)", c.Reason, c.Code)
			}
		}
		assertServes(t, addr, deflate)
	})
}

// FuzzHandshake sends WebSocket handshakes with arbitrary Sec-WebSocket-Key and Sec-WebSocket-Extensions
// values to the real server: the process stays up, an upgrade happens only for a key that is the base64
// of 16 bytes and answers it with its Sec-WebSocket-Accept, and a fresh client is still served.
func FuzzHandshake(f *testing.F) {
	for _, key := range []string{"dGhlIHNhbXBsZSBub25jZQ==", "!!", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZSBleHRyYQ==", "", " dGhlIHNhbXBsZSBub25jZQ=="} {
		for _, ext := range []string{"", "permessage-deflate", "permessage-deflate; client_max_window_bits; server_no_context_takeover", "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=8", ";;,=="} {
			f.Add(key, ext)
		}
	}
	_, addr := startRawFeed(f)
	f.Fuzz(func(t *testing.T, key, ext string) {
		if strings.ContainsAny(key+ext, "\r\n") {
			return // not one header value
		}
		c, err := net.DialTimeout("tcp", addr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		req := fmt.Sprintf("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Extensions: %s\r\n\r\n", addr, key, ext)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no HTTP response to the handshake: %v", err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			raw, err := base64.StdEncoding.DecodeString(strings.Trim(key, " \t"))
			if err != nil || len(raw) != 16 {
				t.Fatalf("Sec-WebSocket-Key %q upgraded", key)
			}
			sum := sha1.Sum([]byte(strings.Trim(key, " \t") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			if got, want := resp.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
				t.Fatalf("Sec-WebSocket-Accept %q for key %q, want %q", got, key, want)
			}
		}
		_ = c.Close()
		assertServes(t, addr, false)
	})
}
