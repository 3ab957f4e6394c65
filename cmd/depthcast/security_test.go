package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/gorilla/websocket"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files; it
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "depthcast test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// newKeyLine makes an API key and its key file line.
func newKeyLine(t *testing.T, g auth.Grant) (key, line string) {
	t.Helper()
	k, h, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, auth.FormatKeyLine(h, g)
}

func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// serve over TLS with an API key file: wss:// and https:// work with a client that trusts the certificate,
// a plain ws:// client gets nowhere, a handshake without a key gets 401, a key's symbols apply, and SIGHUP
// reloads the key file.
func TestServeTLSAndKeys(t *testing.T) {
	brokers := newCluster(t)
	cl := newProducer(t, brokers)
	produce(t, cl, []string{"BTC-USD", "ETH-USD"}, [][]byte{
		[]byte(`{"type":"snapshot","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["100","1"]],"asks":[["101","1"]]}`),
		[]byte(`{"type":"snapshot","symbol":"ETH-USD","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["10","1"]],"asks":[["11","1"]]}`),
	})
	certPath, keyPath, pool := selfSigned(t)
	k1, l1 := newKeyLine(t, auth.Grant{Name: "alice", Symbols: []string{"BTC-USD"}})
	k2, l2 := newKeyLine(t, auth.Grant{Name: "bob"})
	keys := filepath.Join(t.TempDir(), "keys")
	writeFileAtomic(t, keys, "# test keys\n"+l1+"\n")

	var out testkit.Buffer
	addr, stop := runInBackgroundOut(t, &out, "serve", "--brokers", strings.Join(brokers, ","), "--listen", "127.0.0.1:0",
		"--tls-cert", certPath, "--tls-key", keyPath, "--auth-keys", keys, "--log-level", "error")
	defer stop()
	if !strings.Contains(out.String(), "wss://"+addr+"/ws") || !strings.Contains(out.String(), "https://"+addr+"/") {
		t.Errorf("serve printed no TLS URLs:\n%s", out.String())
	}

	tlsCfg := &tls.Config{RootCAs: pool}
	d := &websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: waitTimeout}
	dial := func(key string) (*websocket.Conn, int) {
		h := http.Header{}
		if key != "" {
			h.Set("Authorization", "Bearer "+key)
		}
		c, resp, err := d.Dial("wss://"+addr+"/ws", h)
		if err != nil {
			if resp == nil {
				t.Fatalf("wss dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, 101
	}
	if _, st := dial(""); st != 401 {
		t.Fatalf("no key: HTTP %d, want 401", st)
	}
	if _, st := dial(k2); st != 401 {
		t.Fatalf("key not in the file yet: HTTP %d, want 401", st)
	}
	c, st := dial(k1)
	if c == nil {
		t.Fatalf("alice's key: HTTP %d, want an upgrade", st)
	}
	if cs := c.UnderlyingConn().(*tls.Conn).ConnectionState(); !cs.HandshakeComplete || cs.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v", cs)
	}
	waitFor(t, "both symbols to be known", func() bool {
		var st struct{ Symbols struct{ Total int } }
		getOverTLS(t, addr, "/v1/stats", tlsCfg, k1, &st)
		return st.Symbols.Total == 2
	})
	// alice may see BTC-USD only: /v1/symbols lists it alone.
	var syms struct{ Symbols []struct{ Symbol string } }
	getOverTLS(t, addr, "/v1/symbols", tlsCfg, k1, &syms)
	if len(syms.Symbols) != 1 || syms.Symbols[0].Symbol != "BTC-USD" {
		t.Fatalf("/v1/symbols for alice: %+v, want BTC-USD alone", syms.Symbols)
	}
	request := func(req string) map[string]any {
		t.Helper()
		_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
		if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			t.Fatal(err)
		}
		for {
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if m["type"] != "heartbeat" {
				return m
			}
		}
	}
	if m := request(`{"op":"subscribe","id":1,"channel":"book","symbols":["ETH-USD"]}`); m["type"] != "error" || m["code"] != "unauthorized" {
		t.Fatalf("alice subscribing to ETH-USD: got %v, want an unauthorized error", m)
	}
	if m := request(`{"op":"subscribe","id":2,"channel":"book","symbols":["BTC-USD"]}`); m["type"] != "subscribed" {
		t.Fatalf("alice subscribing to BTC-USD: got %v", m)
	}

	// A plain client gets no WebSocket from a TLS listener.
	if c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil); err == nil {
		_ = c.Close()
		t.Fatal("a plain ws:// handshake succeeded on the TLS listener")
	}

	// Add bob's key, SIGHUP: his key gets in; alice's connection stays.
	writeFileAtomic(t, keys, l1+"\n"+l2+"\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's key to work after SIGHUP", func() bool {
		c, _ := dial(k2)
		return c != nil
	})
	m := request(`{"op":"ping","id":3}`)
	for m["type"] == "snapshot" || m["type"] == "update" {
		m = request(`{"op":"ping","id":3}`)
	}
	if m["type"] != "pong" {
		t.Fatalf("alice after the reload: got %v, want pong", m)
	}
}

// getOverTLS decodes GET https://addr+path, sent with a key, into v.
func getOverTLS(t *testing.T, addr, path string, cfg *tls.Config, key string, v any) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Do(req)
	if err != nil {
		t.Fatalf("https GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s over TLS: %d %v", path, resp.StatusCode, err)
	}
}

// The security flags' mistakes are usage errors (exit 2) with a clear message.
func TestSecurityFlagErrors(t *testing.T) {
	dir := t.TempDir()
	badKeys := filepath.Join(dir, "bad-keys")
	_ = os.WriteFile(badKeys, []byte("sha256:xyz\n"), 0o600)
	certPath, keyPath, _ := selfSigned(t)
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"cert without key", []string{"--tls-cert", certPath}, "--tls-cert and --tls-key go together"},
		{"key is not a key", []string{"--tls-cert", certPath, "--tls-key", certPath}, "tls:"},
		{"missing key file", []string{"--auth-keys", filepath.Join(dir, "missing")}, "--auth-keys"},
		{"bad key file", []string{"--auth-keys", badKeys}, "line 1"},
		{"short secret", []string{"--auth-jwt-secret", "short"}, "at least 32"},
		{"missing public key", []string{"--auth-jwt-key", filepath.Join(dir, "none.pem")}, "--auth-jwt-key"},
		{"not a public key", []string{"--auth-jwt-key", keyPath}, "jwt public key"},
		{"issuer without a verifier", []string{"--auth-jwt-issuer", "x"}, "need --auth-jwt-secret"},
		{"bad origin", []string{"--allow-origins", "example.com"}, `--allow-origins: "example.com" is not an origin`},
		{"negative per-IP cap", []string{"--max-connections-per-ip", "-1"}, "--max-connections-per-ip is negative"},
		{"idle shorter than ping", []string{"--ping-interval", "10s", "--idle-timeout", "5s"}, "--idle-timeout 5s is shorter than --ping-interval 10s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr testkit.Buffer
			args := append([]string{"serve", "--brokers", "127.0.0.1:9"}, tc.args...)
			if code := run(t.Context(), args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.wantStderr)
			}
		})
	}
	t.Setenv("DEPTHCAST_AUTH_JWT_SECRET", "short-from-env")
	var stdout, stderr testkit.Buffer
	if code := run(t.Context(), []string{"serve", "--brokers", "127.0.0.1:9"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "at least 32") {
		t.Fatalf("secret from the environment: exit %d, %q", code, stderr.String())
	}
}

// keygen prints a key and a line that verifies it, with the grant asked for.
func TestKeygen(t *testing.T) {
	var stdout, stderr testkit.Buffer
	code := run(t.Context(), []string{"keygen", "--name", "carol", "--max-connections", "4", "--symbols", "ETH-USD,BTC-USD"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var key, line string
	for _, l := range strings.Split(stdout.String(), "\n") {
		switch {
		case strings.HasPrefix(l, auth.KeyPrefix):
			key = l
		case strings.HasPrefix(l, "sha256:"):
			line = l
		}
	}
	keys, err := auth.ParseKeys(strings.NewReader(line))
	if err != nil || key == "" {
		t.Fatalf("output %q: key %q, line %q: %v", stdout.String(), key, line, err)
	}
	g, err := auth.NewKeyStoreFromKeys(keys).Verify(key)
	if err != nil || g.Name != "carol" || g.MaxConnections != 4 || strings.Join(g.Symbols, ",") != "BTC-USD,ETH-USD" {
		t.Fatalf("grant %+v, %v", g, err)
	}
	if code := run(t.Context(), []string{"keygen", "--name", "a b"}, &stdout, &stderr); code != 2 {
		t.Fatalf("a name with a space: exit %d, want 2", code)
	}
}

// demo takes the TLS flags too, and runs without authentication: a wss:// client without a token gets in.
func TestDemoTLSWithoutAuth(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	var out testkit.Buffer
	addr, stop := runInBackgroundOut(t, &out, "demo", "--listen", "127.0.0.1:0", "--tls-cert", certPath, "--tls-key", keyPath,
		"--symbols", "2", "--rate", "50", "--log-level", "error")
	defer stop()
	if !strings.Contains(out.String(), "wss://"+addr+"/ws") {
		t.Errorf("demo printed no wss:// URL:\n%s", out.String())
	}
	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: waitTimeout}
	c, resp, err := d.Dial("wss://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("wss dial without a token: %v (%v)", err, resp)
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"ping","id":7}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"pong"`) {
			break
		}
	}
	// An untrusted certificate is refused by a verifying client.
	if c2, _, err := websocket.DefaultDialer.Dial("wss://"+addr+"/ws", nil); err == nil {
		_ = c2.Close()
		t.Fatal("a client that does not trust the certificate connected")
	}
}
