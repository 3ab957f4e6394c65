package node

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/depthcast/depthcast/feed"
)

// perIPListener caps the open connections from each remote IP address, but for trusted proxies': past the
// cap, Accept closes the new connection at once (counted in refused) and takes the next. It returns the
// accepted connections as they are (a wrapped net.Conn would lose the kernel's writev); the http.Server's
// ConnState, set to its release, gives a connection's place back when it closes or is hijacked (a WebSocket
// then counts under the feed's own per-IP cap). It is safe for concurrent use.
type perIPListener struct {
	net.Listener
	max     int
	exempt  feed.Prefixes // trusted proxies: their connections are not capped
	refused atomic.Int64

	mu    sync.Mutex
	open  map[string]string // remote address -> IP, of the connections counted
	perIP map[string]int
}

func newPerIPListener(ln net.Listener, max int, exempt feed.Prefixes) *perIPListener {
	return &perIPListener{Listener: ln, max: max, exempt: exempt, open: map[string]string{}, perIP: map[string]int{}}
}

// Accept returns the next connection whose IP is under the cap.
func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := c.RemoteAddr().String()
		ip, _, err := net.SplitHostPort(addr)
		if err != nil {
			ip = addr
		}
		if l.exempt.Contains(ip) { // behind a trusted proxy the feed's per-IP limits count X-Forwarded-For
			return c, nil
		}
		l.mu.Lock()
		if l.perIP[ip] >= l.max {
			l.mu.Unlock()
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		l.perIP[ip]++
		l.open[addr] = ip
		l.mu.Unlock()
		return c, nil
	}
}

// release is the http.Server's ConnState: a closed or hijacked connection gives its place back.
func (l *perIPListener) release(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	addr := c.RemoteAddr().String()
	l.mu.Lock()
	defer l.mu.Unlock()
	ip, ok := l.open[addr]
	if !ok {
		return
	}
	delete(l.open, addr)
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}
