package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/depthcast/depthcast/auth"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Authenticator verifies the token a client presents at the handshake and says what it allows: an
// *auth.Authenticator (API keys and JWTs) is one. Verify must be safe for concurrent use; an error refuses
// the handshake with HTTP 401, its text (short, without secrets) in the body.
type Authenticator interface {
	Verify(token string) (auth.Grant, error)
}

// GuardConfig is the door of the feed: who may open a WebSocket connection, how many, how fast, and how
// long a connection may stay silent. It applies to every WebSocket route of the Server (the upgrade
// requests), before the upgrade. The zero value turns authentication, the Origin check and the per-IP caps
// off; the depthcast command turns the per-IP caps on with the Default* values below.
type GuardConfig struct {
	// Auth verifies tokens (Authorization: Bearer TOKEN, or ?token=TOKEN). nil: no authentication. When
	// set, the /v1/ HTTP endpoints need a token too.
	Auth Authenticator
	// AllowOrigins lists the origins a browser may connect from ("https://app.example.com", or
	// "https://*.example.com" for its subdomains; "*" for any). A handshake with an Origin header not in
	// the list gets 403; one without an Origin header (not a browser) is allowed. Empty: no check.
	AllowOrigins []string
	// MaxConnectionsPerIP bounds the open connections from one IP address; past it a handshake gets 429.
	// 0: no cap.
	MaxConnectionsPerIP int
	// ConnectRatePerIP bounds the handshakes per second from one IP address (a token bucket of
	// ConnectBurstPerIP); past it a handshake gets 429 with Retry-After. Every attempt counts, refused ones
	// too. 0: no cap.
	ConnectRatePerIP float64
	// ConnectBurstPerIP is the bucket size of ConnectRatePerIP. Default: twice the rate, at least 1.
	ConnectBurstPerIP int
	// PingInterval is how often each connection gets a WebSocket ping. Default 20 s.
	PingInterval time.Duration
	// IdleTimeout closes, with 1008 "idle timeout", a connection from which no frame at all (pong, ping,
	// message) has arrived for this long, checked at each ping. Browsers and WebSocket libraries answer
	// pings on their own, so only a dead or stuck peer trips it. Default 60 s; negative: off.
	IdleTimeout time.Duration
	// TrustedProxies lists the addresses ("10.0.0.0/8", "192.0.2.7") of reverse proxies and load balancers
	// in front of the server. For a request from one of them, the per-IP limits apply to the client address
	// in X-Forwarded-For: the rightmost entry that is not itself a trusted proxy (entries further left can
	// be forged by the client). For any other peer, X-Forwarded-For is ignored. Empty: the TCP peer's
	// address always.
	TrustedProxies []string
}

// Defaults of GuardConfig; the per-IP caps are the depthcast command's defaults (the zero config has none).
const (
	DefaultMaxConnectionsPerIP = 200
	DefaultConnectRatePerIP    = 10
	DefaultConnectBurstPerIP   = 50
	DefaultPingInterval        = 20 * time.Second
	DefaultIdleTimeout         = 60 * time.Second
)

func (c GuardConfig) withDefaults() GuardConfig {
	if c.ConnectBurstPerIP == 0 {
		c.ConnectBurstPerIP = max(1, int(math.Ceil(2*c.ConnectRatePerIP)))
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Validate reports the first field out of its range, after defaults are applied. Config.Validate calls it.
func (c GuardConfig) Validate() error {
	d := c.withDefaults()
	switch {
	case d.MaxConnectionsPerIP < 0:
		return errors.New("Guard.MaxConnectionsPerIP is negative")
	case d.ConnectRatePerIP < 0 || math.IsNaN(d.ConnectRatePerIP) || math.IsInf(d.ConnectRatePerIP, 0):
		return errors.New("Guard.ConnectRatePerIP must be a finite number ≥ 0")
	case d.ConnectBurstPerIP < 0:
		return errors.New("Guard.ConnectBurstPerIP is negative")
	case d.PingInterval < 10*time.Millisecond:
		return fmt.Errorf("Guard.PingInterval %v < 10ms", d.PingInterval)
	case d.IdleTimeout > 0 && d.IdleTimeout < d.PingInterval:
		return fmt.Errorf("Guard.IdleTimeout %v is shorter than PingInterval %v", d.IdleTimeout, d.PingInterval)
	}
	if _, err := d.TrustedPrefixes(); err != nil {
		return fmt.Errorf("Guard.TrustedProxies: %w", err)
	}
	for _, o := range d.AllowOrigins {
		if o == "*" {
			continue
		}
		if _, ok := parseOrigin(o, true); !ok {
			return fmt.Errorf("Guard.AllowOrigins: %q is not an origin like https://app.example.com or https://*.example.com", o)
		}
	}
	return nil
}

// guard is the door of a Server: it admits or refuses every WebSocket handshake (and every /v1/ request
// when authentication is on), and keeps the per-IP and per-name counts of the connections it admitted.
type guard struct {
	cfg     GuardConfig
	origins []origin
	anyOrig bool
	proxies Prefixes
	metrics *metrics
	log     *slog.Logger

	mu        sync.Mutex
	ips       map[string]*ipState
	names     map[string]int
	lastPurge time.Time
}

type ipState struct {
	conns    int
	tokens   float64
	tokensAt time.Time
}

func newGuard(cfg GuardConfig, m *metrics, log *slog.Logger) *guard {
	g := &guard{cfg: cfg.withDefaults(), ips: map[string]*ipState{}, names: map[string]int{}, metrics: m, log: log}
	g.proxies, _ = cfg.TrustedPrefixes() // Validate has refused bad ones
	for _, o := range g.cfg.AllowOrigins {
		if o == "*" {
			g.anyOrig = true
			continue
		}
		if po, ok := parseOrigin(o, true); ok { // Validate has refused bad ones
			g.origins = append(g.origins, po)
		}
	}
	return g
}

// origin is a parsed, normalised origin: scheme and host in lower case, the port always explicit (the
// scheme's default when the origin gives none). A pattern's wildcard host "*.example.com" is kept as
// wildcard true and host "example.com".
type origin struct {
	scheme, host, port string
	wildcard           bool
}

// defaultPorts are the ports an origin without one means.
var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// parseOrigin parses s as an origin (scheme://host[:port], nothing after but an optional "/"). With pattern,
// the host may be "*." followed by a domain, which matches that domain's subdomains only.
func parseOrigin(s string, pattern bool) (origin, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.host == "" {
		return origin{}, false
	}
	if o.port == "" {
		if o.port = defaultPorts[o.scheme]; o.port == "" {
			return origin{}, false
		}
	}
	n, err := strconv.Atoi(o.port)
	if err != nil || n < 1 || n > 65535 {
		return origin{}, false
	}
	o.port = strconv.Itoa(n) // "0443" is 443
	if rest, ok := strings.CutPrefix(o.host, "*."); ok && pattern {
		o.wildcard, o.host = true, rest
	}
	if o.host == "" || strings.ContainsAny(o.host, "*/\\@") || strings.HasPrefix(o.host, ".") || strings.HasSuffix(o.host, ".") ||
		strings.Contains(o.host, "..") {
		return origin{}, false
	}
	return o, true
}

// matches reports whether the origin req (never a pattern) is allowed by the pattern o.
func (o origin) matches(req origin) bool {
	if o.scheme != req.scheme || o.port != req.port {
		return false
	}
	if !o.wildcard {
		return o.host == req.host
	}
	sub, ok := strings.CutSuffix(req.host, "."+o.host)
	return ok && sub != ""
}

// originAllowed applies AllowOrigins to a request's Origin header. The header is parsed as a URL and
// compared by scheme, host and port (a default port equals no port); anything that is not a plain origin,
// such as "null" or one with a path, is refused.
func (g *guard) originAllowed(header string) bool {
	if len(g.cfg.AllowOrigins) == 0 || g.anyOrig || header == "" {
		return true
	}
	req, ok := parseOrigin(header, false)
	if !ok {
		return false
	}
	for _, o := range g.origins {
		if o.matches(req) {
			return true
		}
	}
	return false
}

// bearerToken returns the token of a request: the Authorization header's Bearer token, else ?token=.
func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

// clientIP returns the address the per-IP limits count a request under: the TCP peer's, or, when the peer is
// a trusted proxy, the rightmost X-Forwarded-For entry that is not a trusted proxy.
func (g *guard) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !g.proxies.Contains(host) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := hops[i]
		for list != "" {
			var hop string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, hop = list[:j], list[j+1:]
			} else {
				list, hop = "", list
			}
			hop = strings.TrimSpace(hop)
			addr, err := netip.ParseAddr(hop)
			if err != nil {
				return host // a malformed hop: nothing left of it can be trusted, count the proxy
			}
			if !g.proxies.Contains(hop) {
				return addr.Unmap().String()
			}
			host = hop
		}
	}
	return host // every hop is a trusted proxy: count the leftmost one
}

// Prefixes is a set of address prefixes, such as the trusted proxies of GuardConfig.TrustedPrefixes. A nil
// Prefixes holds no address.
type Prefixes []netip.Prefix

// Contains reports whether ip, an address in text, is in one of p; an IPv4-mapped IPv6 address counts as
// its IPv4 form. An ip that does not parse is in none.
func (p Prefixes) Contains(ip string) bool {
	if len(p) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, q := range p {
		if q.Contains(a) {
			return true
		}
	}
	return false
}

// TrustedPrefixes returns TrustedProxies as address prefixes (a single address is a full-length prefix). It
// fails for an entry that is neither an address nor a CIDR prefix, as Validate does.
func (c GuardConfig) TrustedPrefixes() (Prefixes, error) {
	var out Prefixes
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// refuseReasons are the values of the reason attribute of the refused-connections metric.
var refuseReasons = []string{"max_connections", "ip_rate", "origin", "no_token", "bad_token", "ip_connections", "key_connections", "symbol"}

// refusal is a handshake refused before the upgrade.
type refusal struct {
	status     int
	code       string
	reason     string // metric attribute
	msg        string
	retryAfter time.Duration
}

// takeConnectToken applies the per-IP handshake rate. g.mu must be held.
func (g *guard) takeConnectToken(st *ipState, now time.Time) (time.Duration, bool) {
	rate, burst := g.cfg.ConnectRatePerIP, float64(g.cfg.ConnectBurstPerIP)
	if rate <= 0 {
		return 0, true
	}
	if st.tokensAt.IsZero() {
		st.tokens = burst
	} else {
		st.tokens = min(burst, st.tokens+now.Sub(st.tokensAt).Seconds()*rate)
	}
	st.tokensAt = now
	if st.tokens < 1 {
		return time.Duration((1 - st.tokens) / rate * float64(time.Second)), false
	}
	st.tokens--
	return 0, true
}

// purge drops the state of addresses with no connection and a full bucket, once a minute. g.mu must be held.
func (g *guard) purge(now time.Time) {
	if now.Sub(g.lastPurge) < time.Minute {
		return
	}
	g.lastPurge = now
	for ip, st := range g.ips {
		full := g.cfg.ConnectRatePerIP <= 0 ||
			st.tokens+now.Sub(st.tokensAt).Seconds()*g.cfg.ConnectRatePerIP >= float64(g.cfg.ConnectBurstPerIP)
		if st.conns == 0 && full {
			delete(g.ips, ip)
		}
	}
}

// admit runs the checks of the door in order: per-IP handshake rate (429), Origin (403), token (401),
// per-IP connections (429), the token's connections (429). On success the connection's slots are taken
// and the returned admission releases them.
func (g *guard) admit(r *http.Request, now time.Time) (*admission, *refusal) {
	ip := g.clientIP(r)
	g.mu.Lock()
	g.purge(now)
	st := g.ips[ip]
	if st == nil {
		st = &ipState{}
		g.ips[ip] = st
	}
	wait, ok := g.takeConnectToken(st, now)
	g.mu.Unlock()
	if !ok {
		return nil, &refusal{http.StatusTooManyRequests, CodeLimitExceeded, "ip_rate",
			fmt.Sprintf("too many connection attempts from %s: limit %g per second", ip, g.cfg.ConnectRatePerIP), wait}
	}
	if !g.originAllowed(r.Header.Get("Origin")) {
		return nil, &refusal{http.StatusForbidden, "forbidden", "origin", "origin not allowed", 0}
	}
	adm := &admission{g: g, ip: ip}
	if g.cfg.Auth != nil {
		grant, rf := g.authenticate(r, now)
		if rf != nil {
			return nil, rf
		}
		adm.id = &grant
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st = g.ips[ip]
	if st == nil { // purged meanwhile
		st = &ipState{tokens: float64(g.cfg.ConnectBurstPerIP), tokensAt: now}
		g.ips[ip] = st
	}
	if max := g.cfg.MaxConnectionsPerIP; max > 0 && st.conns >= max {
		return nil, &refusal{http.StatusTooManyRequests, CodeLimitExceeded, "ip_connections",
			fmt.Sprintf("%d connections from %s: limit %d", st.conns, ip, max), 5 * time.Second}
	}
	if adm.id != nil && adm.id.MaxConnections > 0 && g.names[adm.id.Name] >= adm.id.MaxConnections {
		return nil, &refusal{http.StatusTooManyRequests, CodeLimitExceeded, "key_connections",
			fmt.Sprintf("connection limit of this token reached: %d", adm.id.MaxConnections), 5 * time.Second}
	}
	st.conns++
	if adm.id != nil {
		g.names[adm.id.Name]++
	}
	return adm, nil
}

// admission is one admitted connection's hold on the guard's counts, and its token's expiry timer.
type admission struct {
	g  *guard
	ip string
	id *auth.Grant // nil: authentication off

	once     sync.Once
	mu       sync.Mutex
	timer    *time.Timer
	onExpire func()
	expired  bool
	conn     net.Conn
	released bool
	claimed  bool
}

// claim tells the guard that the route releases the admission itself when its connection ends: Hijack
// then returns the server's connection as it is. (A wrapped net.Conn loses the kernel's writev: net.Buffers
// only batches writes on the standard library's own connection types.) Routes that do not claim get a
// connection that releases the admission when closed.
func (a *admission) claim() {
	a.mu.Lock()
	a.claimed = true
	a.mu.Unlock()
}

// startExpiry arms the token's expiry timer: at expiry, the function given to onExpiry runs, or, if none
// was given, the connection is dropped.
func (a *admission) startExpiry(now time.Time) {
	if a.id == nil || a.id.Expires.IsZero() {
		return
	}
	a.mu.Lock()
	a.timer = time.AfterFunc(a.id.Expires.Sub(now), a.expire)
	a.mu.Unlock()
}

func (a *admission) expire() {
	a.mu.Lock()
	if a.released {
		a.mu.Unlock()
		return
	}
	a.expired = true
	f, c := a.onExpire, a.conn
	a.mu.Unlock()
	switch {
	case f != nil:
		f()
	case c != nil:
		_ = c.Close()
	}
}

// onExpiry sets what runs when the token expires; if it already has, f runs at once.
func (a *admission) onExpiry(f func()) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.onExpire = f
	run := a.expired && !a.released
	a.mu.Unlock()
	if run {
		f()
	}
}

// grant returns what the connection's token allows, nil when authentication is off.
func (a *admission) grant() *auth.Grant {
	if a == nil {
		return nil
	}
	return a.id
}

// release gives the connection's slots back and stops the expiry timer. It runs once; nil is a no-op.
func (a *admission) release() {
	if a == nil {
		return
	}
	a.once.Do(func() {
		a.mu.Lock()
		a.released = true
		if a.timer != nil {
			a.timer.Stop()
		}
		a.mu.Unlock()
		g := a.g
		g.mu.Lock()
		if st := g.ips[a.ip]; st != nil && st.conns > 0 {
			st.conns--
		}
		if a.id != nil {
			if g.names[a.id.Name]--; g.names[a.id.Name] <= 0 {
				delete(g.names, a.id.Name)
			}
		}
		g.mu.Unlock()
	})
}

type admissionKey struct{}

// admissionFrom returns the admission of an upgrade request, nil when it did not pass the guard.
func admissionFrom(ctx context.Context) *admission {
	a, _ := ctx.Value(admissionKey{}).(*admission)
	return a
}

// isUpgrade reports whether r asks for a WebSocket upgrade: "websocket" among the tokens of any Upgrade
// header, as the most lenient WebSocket library reads it, so no route can upgrade a request the guard
// did not see.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// authenticate returns the grant of r's token, checked and not expired at now, or the refusal of a request
// without a token (no_token) or with a bad one (bad_token).
func (g *guard) authenticate(r *http.Request, now time.Time) (auth.Grant, *refusal) {
	tok := bearerToken(r)
	if tok == "" {
		return auth.Grant{}, &refusal{http.StatusUnauthorized, CodeUnauthorized, "no_token",
			"a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN", 0}
	}
	grant, err := g.cfg.Auth.Verify(tok)
	if err == nil && !grant.Expires.IsZero() && !now.Before(grant.Expires) {
		err = errors.New("token expired")
	}
	if err != nil {
		return auth.Grant{}, &refusal{http.StatusUnauthorized, CodeUnauthorized, "bad_token", closeText(err.Error()), 0}
	}
	return grant, nil
}

// refuse answers a refused handshake or request.
func (g *guard) refuse(w http.ResponseWriter, r *http.Request, rf *refusal) {
	h := w.Header()
	if rf.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="depthcast"`)
	}
	if rf.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(rf.retryAfter.Seconds()))))
	}
	g.metrics.refused.Add(r.Context(), 1, metric.WithAttributes(attribute.String("reason", rf.reason)))
	g.log.Debug("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "status", rf.status, "reason", rf.reason)
	writeJSON(w, rf.status, httpError{"error", rf.code, rf.msg})
}

// serveUpgrade guards every WebSocket route (/ws, /replay, …): the request passes the door's checks before
// next (the Server's routes) sees it, and the connection's slots are held until its socket is closed. A
// route finds the connection's grant with admissionFrom(r.Context()).grant() (nil when authentication is
// off) and sets how to close on token expiry with onExpiry; a route that sets nothing has its socket
// dropped at expiry.
func (g *guard) serveUpgrade(w http.ResponseWriter, r *http.Request, next http.Handler) {
	now := time.Now()
	adm, rf := g.admit(r, now)
	if rf != nil {
		g.refuse(w, r, rf)
		return
	}
	gw := &guardedWriter{ResponseWriter: w, adm: adm}
	defer func() {
		if !gw.hijacked { // refused by the route (404, 503, a failed upgrade…): nothing holds the slots
			adm.release()
		}
	}()
	adm.startExpiry(now)
	next.ServeHTTP(gw, r.WithContext(context.WithValue(r.Context(), admissionKey{}, adm)))
}

// checkAPI guards the /v1/ endpoints when authentication is on: a token is needed, and /v1/book/{symbol}
// needs one that allows the symbol (403 otherwise), decided by auth.Grant.Denied as on the WebSocket
// routes. It answers a refused request itself and reports false; a request it passes carries its grant
// (grantFrom), so that /v1/symbols lists only what the token may see.
func (g *guard) checkAPI(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if g.cfg.Auth == nil || !strings.HasPrefix(r.URL.Path, "/v1/") {
		return r, true
	}
	grant, rf := g.authenticate(r, time.Now())
	if rf != nil {
		g.refuse(w, r, rf)
		return nil, false
	}
	if sym, ok := strings.CutPrefix(r.URL.Path, "/v1/book/"); ok && grant.Denied(sym) != nil {
		g.refuse(w, r, &refusal{http.StatusForbidden, CodeUnauthorized, "symbol", "this token may not see " + closeText(sym), 0})
		return nil, false
	}
	return r.WithContext(context.WithValue(r.Context(), grantKey{}, &grant)), true
}

type grantKey struct{}

// grantFrom returns the grant of a /v1/ request checkAPI passed, nil when authentication is off.
func grantFrom(ctx context.Context) *auth.Grant {
	g, _ := ctx.Value(grantKey{}).(*auth.Grant)
	return g
}
