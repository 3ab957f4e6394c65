package feed_test

// Helpers of the guard tests: real API keys and JWTs through the auth package (wired as the depthcast
// command wires them), and raw handshakes whose refusals are read as HTTP responses.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/feed"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// The auth package's Authenticator is the feed's, as the depthcast command wires it.
var _ feed.Authenticator = (*auth.Authenticator)(nil)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

var (
	rsaOnce          sync.Once
	rsaKey, rsaOther *rsa.PrivateKey
)

// testRSAKey is the RSA key the test feeds trust; otherRSAKey one they do not. Both are made once for the
// package (generating one is slow under -race).
func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func otherRSAKey(t *testing.T) *rsa.PrivateKey {
	testRSAKey(t)
	return rsaOther
}

// noneToken is an unsigned token (alg "none") that claims everything.
func noneToken(t *testing.T) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "mallory"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signHS256 and signRS256 make tokens with the given claims.
func signHS256(t *testing.T, secret []byte, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signRS256(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyFile writes key lines to a file in a temporary directory and returns its path.
func keyFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys")
	writeKeys(t, p, lines...)
	return p
}

func writeKeys(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// newKey returns a fresh API key and its key file line with the given fields after the hash.
func newKey(t *testing.T, fields string) (key, line string) {
	t.Helper()
	k, h, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, strings.TrimSpace(auth.FormatKeyLine(h, auth.Grant{}) + " " + fields)
}

// handshake is the outcome of one WebSocket handshake.
type handshake struct {
	conn   *websocket.Conn
	status int // 101 when upgraded
	header http.Header
	body   struct{ Type, Code, Message string }
	err    error
}

// tryDial opens a WebSocket at path with header; a refusal is returned, not fatal. An upgraded connection is
// closed at the end of the test.
func (f *testFeed) tryDial(path string, header http.Header) handshake {
	f.t.Helper()
	url := "ws" + strings.TrimPrefix(f.httpURL(), "http") + path
	conn, resp, err := dialer().Dial(url, header)
	var h handshake
	h.conn, h.err = conn, err
	if resp != nil {
		h.status, h.header = resp.StatusCode, resp.Header
		if conn == nil && resp.Body != nil {
			b, _ := io.ReadAll(resp.Body)
			_ = json.Unmarshal(b, &h.body)
		}
	}
	if conn != nil {
		f.t.Cleanup(func() { _ = conn.Close() })
	}
	return h
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// wantStatus fails unless the handshake was refused with status (and, for 401, WWW-Authenticate: Bearer;
// for 429, a Retry-After).
func (h handshake) wantStatus(t *testing.T, what string, status int) {
	t.Helper()
	if h.conn != nil {
		t.Fatalf("%s: upgraded, want HTTP %d", what, status)
	}
	if h.status != status {
		t.Fatalf("%s: HTTP %d (%v), want %d", what, h.status, h.err, status)
	}
	if h.body.Type != "error" || h.body.Code == "" || h.body.Message == "" {
		t.Errorf("%s: body %+v, want a JSON error", what, h.body)
	}
	switch status {
	case http.StatusUnauthorized:
		if !strings.HasPrefix(h.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q, want Bearer", what, h.header.Get("WWW-Authenticate"))
		}
	case http.StatusTooManyRequests:
		if h.header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", what)
		}
	}
}

// wantUpgraded fails unless the handshake upgraded; it returns a test client on the connection.
func (h handshake) wantUpgraded(t *testing.T, what string) *client {
	t.Helper()
	if h.conn == nil {
		t.Fatalf("%s: not upgraded: HTTP %d %+v (%v)", what, h.status, h.body, h.err)
	}
	return &client{t: t, conn: h.conn, books: map[string]*clientBook{}}
}

// dialUntil retries a handshake until it upgrades (a slot the server frees after a close comes back a
// moment later), and fails the test if it never does.
func (f *testFeed) dialUntil(what, path string, header http.Header) *client {
	f.t.Helper()
	var h handshake
	waitFor(f.t, what, func() bool {
		h = f.tryDial(path, header)
		return h.conn != nil
	})
	return h.wantUpgraded(f.t, what)
}

// closedWithin reads until the connection ends and returns its close frame; it fails the test if the
// connection is still open after d (heartbeats keep an open connection readable forever).
func (c *client) closedWithin(d time.Duration) *websocket.CloseError {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		_ = c.conn.Close()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection not closed with a close frame within %v: %v", d, err)
		}
		return ce
	}
}
