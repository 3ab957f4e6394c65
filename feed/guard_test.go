package feed_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/feed"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// jwtFeed is a feed whose tokens are JWTs: HS256 with testSecret and RS256 with testRSAKey.
func jwtFeed(t *testing.T, cfg feed.Config) *testFeed {
	t.Helper()
	v, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: testSecret, PublicKey: &testRSAKey(t).PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Guard.Auth = &auth.Authenticator{JWT: v}
	return newTestFeed(t, cfg)
}

// Every refusal of the door over real handshakes: the status, the JSON body, WWW-Authenticate on 401.
func TestHandshakeAuthRefusals(t *testing.T) {
	f := jwtFeed(t, feed.Config{})
	future := time.Now().Add(time.Hour).Unix()
	good := signHS256(t, testSecret, jwt.MapClaims{"sub": "alice", "exp": future})
	other := otherRSAKey(t)
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		status int // 0: upgraded
	}{
		{"no token", "/ws", nil, 401},
		{"empty bearer", "/ws", http.Header{"Authorization": {"Bearer "}}, 401},
		{"not bearer", "/ws", http.Header{"Authorization": {"Basic " + good}}, 401},
		{"garbage", "/ws", bearer("not-a-token"), 401},
		{"bad HS256 signature", "/ws", bearer(signHS256(t, []byte("another-secret-another-secret-xx"), jwt.MapClaims{"sub": "a", "exp": future})), 401},
		{"bad RS256 signature", "/ws", bearer(signRS256(t, other, jwt.MapClaims{"sub": "a", "exp": future})), 401},
		{"alg none", "/ws", bearer(noneToken(t)), 401},
		{"expired at connect", "/ws", bearer(signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Minute).Unix()})), 401},
		{"not yet valid", "/ws", bearer(signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "nbf": future})), 401},
		{"issued in the future", "/ws", bearer(signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "iat": future})), 401},
		{"tampered", "/ws", bearer(good[:len(good)-3] + "AAA"), 401},
		{"query token tampered", "/ws?token=" + url.QueryEscape(good+"x"), nil, 401},
		// The guard is in front of every WebSocket route, not only /ws.
		{"other route, no token", "/replay", nil, 401},
		{"good HS256, header", "/ws", bearer(good), 0},
		{"good HS256, lower-case scheme", "/ws", http.Header{"Authorization": {"bearer " + good}}, 0},
		{"good HS256, query", "/ws?token=" + url.QueryEscape(good), nil, 0},
		{"good RS256, header", "/ws", bearer(signRS256(t, testRSAKey(t), jwt.MapClaims{"sub": "bob", "exp": future})), 0},
		{"good RS256, query", "/ws?token=" + signRS256(t, testRSAKey(t), jwt.MapClaims{"sub": "bob"}), nil, 0},
		{"issued in the past", "/ws", bearer(signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "iat": time.Now().Add(-time.Hour).Unix()})), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := f.tryDial(tc.path, tc.header)
			if tc.status == 0 {
				c := h.wantUpgraded(t, tc.name)
				c.send(`{"op":"ping","id":1}`)
				c.expect("pong")
				return
			}
			h.wantStatus(t, tc.name, tc.status)
			if tc.status == 401 && h.body.Code != "unauthorized" {
				t.Errorf("code %q, want unauthorized", h.body.Code)
			}
		})
	}
	if n := f.metric("depthcast.feed.connections.refused"); n < 12 {
		t.Errorf("refused handshakes counted %d, want at least 12", n)
	}
}

// With auth on, the HTTP API needs a token too, and a book needs one that may see the symbol.
func TestAPIAuth(t *testing.T) {
	f := jwtFeed(t, feed.Config{})
	threeSymbols(f)
	tok := signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "symbols": []string{"BTC-USD"}})
	get := func(path string, h http.Header) int {
		req, _ := http.NewRequest("GET", f.httpURL()+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/v1/symbols", nil, 401},
		{"/v1/symbols", bearer("nope"), 401},
		{"/v1/symbols", bearer(tok), 200},
		{"/v1/book/BTC-USD?token=" + tok, nil, 200},
		{"/v1/book/ETH-USD", bearer(tok), 403},
		{"/healthz", nil, 200},
	} {
		if got := get(tc.path, tc.header); got != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, got, tc.want)
		}
	}
}

// A token that expires while connected closes its connection with 1008 "token expired".
func TestTokenExpiresWhileConnected(t *testing.T) {
	f := jwtFeed(t, feed.Config{})
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	c := f.tryDial("/ws", bearer(signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "exp": exp.Unix()}))).wantUpgraded(t, "short token")
	c.send(`{"op":"ping","id":1}`)
	c.expect("pong")
	ce := c.closedWithin(time.Until(exp) + 10*time.Second)
	if ce.Code != 1008 || ce.Text != "token expired" {
		t.Fatalf("closed with %d %q, want 1008 \"token expired\"", ce.Code, ce.Text)
	}
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("closed at %v, before the token's exp %v", now, exp)
	}
}

// A token's symbols bound what it may subscribe to: another symbol gets "unauthorized" (and nothing of
// the request is subscribed), and its max_subscriptions caps the connection's subscriptions.
func TestTokenSymbolsAndSubscriptionLimit(t *testing.T) {
	f := jwtFeed(t, feed.Config{})
	threeSymbols(f)
	tok := signHS256(t, testSecret, jwt.MapClaims{"sub": "a", "symbols": []string{"BTC-USD", "ETH-USD"}, "max_subscriptions": 2})
	c := f.tryDial("/ws", bearer(tok)).wantUpgraded(t, "restricted token")
	for _, req := range []string{
		`{"op":"subscribe","id":1,"channel":"book","symbols":["SOL-USD"]}`,
		`{"op":"subscribe","id":2,"channel":"book","symbols":["BTC-USD","SOL-USD"]}`,
		`{"op":"subscribe","id":3,"channel":"trades","symbols":["SOL-USD"]}`,
	} {
		c.send(req)
		m := c.expect("error")
		if m.Code != "unauthorized" || !strings.Contains(m.Message, "SOL-USD") || strings.Contains(m.Message, "BTC-USD") {
			t.Fatalf("%s: got %s, want unauthorized for SOL-USD only", req, m)
		}
	}
	// Nothing was subscribed by the refused requests: BTC-USD gets its snapshot only after its own subscribe.
	c.subscribe(4, "book", []string{"BTC-USD"}, "")
	if m := c.expect("snapshot"); m.Symbol != "BTC-USD" {
		t.Fatalf("got %s, want the BTC-USD snapshot", m)
	}
	c.subscribe(5, "trades", []string{"BTC-USD"}, "")
	c.send(`{"op":"subscribe","id":6,"channel":"book","symbols":["ETH-USD"]}`)
	if m := c.expect("error"); m.Code != "limit_exceeded" || !strings.Contains(m.Message, "2") {
		t.Fatalf("third subscription: got %s, want limit_exceeded naming the limit 2", m)
	}
	if ce := c.closeError(); ce.Code != 1008 {
		t.Fatalf("closed with %d, want 1008", ce.Code)
	}
}

// The Origin allow-list: a listed origin (or a subdomain of a wildcard entry) and a request without
// Origin pass, any other origin gets 403, whether auth is on or not.
func TestOriginAllowList(t *testing.T) {
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{AllowOrigins: []string{"https://app.example.com", "https://*.trusted.example", "http://localhost:8080", "https://*.ported.example:8443"}}})
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"https://a.trusted.example", true},
		{"https://a.b.trusted.example", true},
		{"http://app.example.com", false},
		{"https://evil.example.com", false},
		{"https://trusted.example.evil", false},
		{"https://eviltrusted.example", false},
		{"null", false},
		// Origins are compared as URLs: scheme, host and port, the default port the same as none.
		{"https://app.example.com:443", true},
		{"https://app.example.com/", true},
		{"https://app.example.com:8443", false},
		{"http://app.example.com:443", false},
		{"https://a.trusted.example:443", true},
		{"https://evil.com/.trusted.example", false},
		{"https://evil.com/.app.example.com", false},
		{"https://evil.com?.trusted.example", false},
		{"https://evil.com#.trusted.example", false},
		{"https://x@evil.com", false},
		{"https://trusted.example@a.trusted.example", false},
		{"https://trusted.example", false},
		{"https://.trusted.example", false},
		{"https://app.example.com/path", false},
		{"http://localhost:8080", true},
		{"http://localhost", false},
		{"http://localhost:80", false},
		{"https://a.ported.example:8443", true},
		{"https://a.ported.example", false},
		{"app.example.com", false},
		{"https://", false},
	} {
		var h http.Header
		if tc.origin != "" {
			h = http.Header{"Origin": {tc.origin}}
		}
		hs := f.tryDial("/ws", h)
		if tc.ok {
			hs.wantUpgraded(t, "origin "+tc.origin)
		} else {
			hs.wantStatus(t, "origin "+tc.origin, 403)
		}
	}
	// With auth on, a bad origin is refused before the token is looked at.
	g := jwtFeed(t, feed.Config{Guard: feed.GuardConfig{AllowOrigins: []string{"https://app.example.com"}}})
	tok := signHS256(t, testSecret, jwt.MapClaims{"sub": "a"})
	g.tryDial("/ws", http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + tok}}).wantStatus(t, "bad origin, good token", 403)
	g.tryDial("/ws", http.Header{"Origin": {"https://app.example.com"}}).wantStatus(t, "good origin, no token", 401)
	g.tryDial("/ws", http.Header{"Origin": {"https://app.example.com"}, "Authorization": {"Bearer " + tok}}).wantUpgraded(t, "good origin, good token")
}

// A key's max_connections: one more gets 429 with Retry-After; after one closes, a new one gets in.
// Another key is not affected.
func TestKeyConnectionLimit(t *testing.T) {
	k1, l1 := newKey(t, "name=alice max_connections=2")
	k2, l2 := newKey(t, "name=bob")
	ks, err := auth.NewKeyStore(keyFile(t, l1, l2))
	if err != nil {
		t.Fatal(err)
	}
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{Auth: &auth.Authenticator{Keys: ks}}})
	a := f.tryDial("/ws", bearer(k1)).wantUpgraded(t, "alice 1")
	f.tryDial("/ws?token="+k1, nil).wantUpgraded(t, "alice 2")
	h := f.tryDial("/ws", bearer(k1))
	h.wantStatus(t, "alice 3", 429)
	if h.body.Code != "limit_exceeded" {
		t.Errorf("code %q, want limit_exceeded", h.body.Code)
	}
	for i := range 3 {
		f.tryDial("/ws", bearer(k2)).wantUpgraded(t, "bob "+strconv.Itoa(i))
	}
	_ = a.conn.Close()
	f.dialUntil("alice's slot to come back", "/ws", bearer(k1))
	f.tryDial("/ws", bearer(k1)).wantStatus(t, "alice 3, full again", 429)
}

// An admitted upgrade that no route takes over (here: no such route) gives its slot back at once.
func TestRefusedRouteHoldsNoSlot(t *testing.T) {
	k, l := newKey(t, "name=carol max_connections=1")
	ks, err := auth.NewKeyStore(keyFile(t, l))
	if err != nil {
		t.Fatal(err)
	}
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{Auth: &auth.Authenticator{Keys: ks}, MaxConnectionsPerIP: 1}})
	for i := range 3 {
		if h := f.tryDial("/no-such-route", bearer(k)); h.status != http.StatusNotFound {
			t.Fatalf("upgrade %d to an unknown route: HTTP %d, want 404", i, h.status)
		}
	}
	f.tryDial("/ws", bearer(k)).wantUpgraded(t, "carol on /ws")
	f.tryDial("/ws", bearer(k)).wantStatus(t, "carol again", 429)
}

// The per-IP connection cap.
func TestPerIPConnectionCap(t *testing.T) {
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{MaxConnectionsPerIP: 3}})
	var cs []*client
	for i := range 3 {
		cs = append(cs, f.tryDial("/ws", nil).wantUpgraded(t, "connection "+strconv.Itoa(i)))
	}
	h := f.tryDial("/ws", nil)
	h.wantStatus(t, "connection 4", 429)
	// Refused handshakes do not hold a slot; a closed connection gives its slot back.
	f.tryDial("/ws", nil).wantStatus(t, "connection 4 again", 429)
	_ = cs[0].conn.Close()
	f.dialUntil("a slot to come back", "/ws", nil)
	// A request that is not a WebSocket upgrade is not counted.
	resp, err := http.Get(f.httpURL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Behind a trusted proxy, the per-IP cap counts the clients named by X-Forwarded-For, not the proxy; a peer
// that is not trusted cannot dodge the cap with the header.
func TestPerIPCapBehindProxy(t *testing.T) {
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {"198.51.100.1, " + ip}} }
	behind := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{MaxConnectionsPerIP: 1, TrustedProxies: []string{"127.0.0.0/8"}}})
	behind.tryDial("/ws", xff("203.0.113.1")).wantUpgraded(t, "first client")
	behind.tryDial("/ws", xff("203.0.113.1")).wantStatus(t, "first client again", 429)
	behind.tryDial("/ws", xff("203.0.113.2")).wantUpgraded(t, "second client through the same proxy")

	direct := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{MaxConnectionsPerIP: 1}})
	direct.tryDial("/ws", xff("203.0.113.1")).wantUpgraded(t, "first connection")
	direct.tryDial("/ws", xff("203.0.113.2")).wantStatus(t, "a forged X-Forwarded-For from an untrusted peer", 429)
}

// The per-IP handshake rate: past the burst, 429 with a Retry-After of whole seconds; refused attempts
// count too.
func TestPerIPConnectRate(t *testing.T) {
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{ConnectRatePerIP: 0.5, ConnectBurstPerIP: 3}})
	for i := range 3 {
		h := f.tryDial("/ws", nil)
		h.wantUpgraded(t, "handshake "+strconv.Itoa(i))
		_ = h.conn.Close()
	}
	h := f.tryDial("/ws", nil)
	h.wantStatus(t, "handshake 4", 429)
	if ra, err := strconv.Atoi(h.header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds at 0.5 handshakes/s", h.header.Get("Retry-After"))
	}
}

// Reload of the key file takes effect for new handshakes: a new key gets in, a removed one is refused.
func TestKeyReload(t *testing.T) {
	k1, l1 := newKey(t, "name=old")
	k2, l2 := newKey(t, "name=new symbols=BTC-USD")
	path := keyFile(t, "# keys", l1)
	ks, err := auth.NewKeyStore(path)
	if err != nil {
		t.Fatal(err)
	}
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{Auth: &auth.Authenticator{Keys: ks}}})
	threeSymbols(f)
	f.tryDial("/ws", bearer(k1)).wantUpgraded(t, "old key")
	f.tryDial("/ws", bearer(k2)).wantStatus(t, "new key before reload", 401)

	writeKeys(t, path, l2)
	if err := ks.Reload(); err != nil {
		t.Fatal(err)
	}
	f.tryDial("/ws", bearer(k1)).wantStatus(t, "old key after reload", 401)
	c := f.tryDial("/ws", bearer(k2)).wantUpgraded(t, "new key after reload")
	c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":["ETH-USD"]}`)
	if m := c.expect("error"); m.Code != "unauthorized" {
		t.Fatalf("got %s, want unauthorized: the new key's symbols apply", m)
	}

	// A broken file is refused and the keys in use stay.
	writeKeys(t, path, "sha256:nothex")
	if err := ks.Reload(); err == nil {
		t.Fatal("Reload accepted a broken key file")
	}
	f.tryDial("/ws", bearer(k2)).wantUpgraded(t, "new key after a failed reload")
}

// A connection from which nothing arrives, not even a pong, is closed with 1008 "idle timeout"; one that
// answers pings stays, without sending a message of its own.
func TestIdleTimeout(t *testing.T) {
	f := newTestFeed(t, feed.Config{Guard: feed.GuardConfig{PingInterval: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}})
	live := f.dial()
	pings := make(chan struct{}, 100)
	live.conn.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return live.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := live.conn.ReadMessage(); err != nil {
				readDone <- err
				return
			}
		}
	}()
	dead := f.dial() // never reads, so never answers a ping
	time.Sleep(time.Second)
	ce := dead.closedWithin(10 * time.Second)
	if ce.Code != 1008 || !strings.Contains(ce.Text, "idle timeout") {
		t.Fatalf("silent connection closed with %d %q, want 1008 idle timeout", ce.Code, ce.Text)
	}
	select {
	case err := <-readDone:
		t.Fatalf("the connection that answers pings was closed: %v", err)
	default:
	}
	if len(pings) < 5 {
		t.Fatalf("%d pings in a second at a 50 ms interval", len(pings))
	}
	_ = live.conn.Close()
	<-readDone
}

// Guard settings out of range are refused by Validate.
func TestGuardConfigValidate(t *testing.T) {
	for _, g := range []feed.GuardConfig{
		{MaxConnectionsPerIP: -1},
		{ConnectRatePerIP: -1},
		{PingInterval: time.Millisecond},
		{PingInterval: time.Second, IdleTimeout: 500 * time.Millisecond},
		{AllowOrigins: []string{"app.example.com"}},
		{AllowOrigins: []string{"https://app.example.com/path"}},
		{AllowOrigins: []string{"https://*"}},
		{AllowOrigins: []string{"https://*."}},
		{AllowOrigins: []string{"https://a.*.example.com"}},
		{AllowOrigins: []string{"https://user@app.example.com"}},
		{AllowOrigins: []string{"ftp://app.example.com"}},
		{TrustedProxies: []string{"10.0.0.0/33"}},
		{TrustedProxies: []string{"proxy.internal"}},
	} {
		c := feed.Config{Guard: g}
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", g)
		}
	}
	ok := feed.Config{Guard: feed.GuardConfig{AllowOrigins: []string{"*", "https://a.example", "http://localhost:8080"}, IdleTimeout: -1,
		TrustedProxies:      []string{"10.0.0.0/8", "192.0.2.7", "fd00::/8"},
		MaxConnectionsPerIP: feed.DefaultMaxConnectionsPerIP, ConnectRatePerIP: feed.DefaultConnectRatePerIP}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// Prefixes holds the addresses of its prefixes, an IPv4-mapped IPv6 address as its IPv4 form, and nothing
// when empty or for text that is not an address.
func TestPrefixesContains(t *testing.T) {
	ps, err := feed.GuardConfig{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}}.TrustedPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ps   feed.Prefixes
		ip   string
		want bool
	}{
		{ps, "10.1.2.3", true},
		{ps, "::ffff:10.1.2.3", true},
		{ps, "192.0.2.7", true},
		{ps, "192.0.2.8", false},
		{ps, "2001:db8::1", true},
		{ps, "2001:db9::1", false},
		{ps, "10.1.2.3:80", false},
		{ps, "", false},
		{nil, "10.1.2.3", false},
	}
	for _, tc := range tests {
		if got := tc.ps.Contains(tc.ip); got != tc.want {
			t.Errorf("%v.Contains(%q) = %v, want %v", tc.ps, tc.ip, got, tc.want)
		}
	}
}
