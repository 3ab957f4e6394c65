package feed

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// netConn wraps a client's TCP (or TLS) connection under gws. It serializes whole frames from two writers,
// gws (control frames: close, pong) and the session's write loop (pre-built data frames, many per write
// call), and it turns gws's abrupt Close into a graceful one: the close frame goes out, the write side is
// shut (FIN), and the socket stays open for reading until the client answers or Linger passes, so a client
// that is still sending does not get a reset that would destroy the close frame in its receive buffer.
type netConn struct {
	net.Conn
	linger time.Duration

	wmu   sync.Mutex
	wbufs net.Buffers // writeFrames' argument, under wmu: a field, so that writev's needs no allocation
	// tryWritev's, under wmu
	writev   func(fd uintptr) bool
	iov      iovecs
	wrote    int
	shut     atomic.Bool // write side shut down
	finished atomic.Bool // socket closed
}

func newNetConn(c net.Conn, linger time.Duration) *netConn {
	return &netConn{Conn: c, linger: linger}
}

// Write writes one frame from gws.
func (c *netConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.shut.Load() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// writeFrames writes complete frames with as few system calls as the kernel allows (writev on TCP).
// bufs is consumed. A non-zero deadline replaces the write deadline in force.
func (c *netConn) writeFrames(bufs net.Buffers, deadline time.Time) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFramesLocked(bufs, deadline)
}

// writeFramesLocked is writeFrames with c.wmu held by the caller.
func (c *netConn) writeFramesLocked(bufs net.Buffers, deadline time.Time) (int64, error) {
	if c.shut.Load() {
		return 0, net.ErrClosed
	}
	if !deadline.IsZero() {
		_ = c.Conn.SetWriteDeadline(deadline)
	}
	if len(bufs) == 1 { // a plain write
		n, err := c.Conn.Write(bufs[0])
		return int64(n), err
	}
	c.wbufs = bufs
	n, err := c.wbufs.WriteTo(c.Conn)
	c.wbufs = nil
	return n, err
}

// Close is what gws calls after it wrote a close frame: shut the write side, keep reading until the peer
// closes or Linger passes. finish releases the socket.
func (c *netConn) Close() error {
	c.shutWrite()
	return nil
}

func (c *netConn) shutWrite() {
	if c.shut.Swap(true) {
		return
	}
	// A write blocked on a stalled client must not hold the lock forever: its deadline is already set
	// by the caller that decided to close (WriteTimeout); take the lock to order the FIN after it.
	c.wmu.Lock()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	c.wmu.Unlock()
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.linger))
}

// finish shuts the write side if that has not happened, drains what the client still sends until it
// closes or Linger passes, and closes the socket. It runs once the read loop has ended.
func (c *netConn) finish() {
	if c.finished.Swap(true) {
		return
	}
	c.shutWrite()
	_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 64<<20))
	_ = c.Conn.Close()
}

// abort closes the socket at once.
func (c *netConn) abort() {
	c.shut.Store(true)
	if !c.finished.Swap(true) {
		_ = c.Conn.Close()
	}
}
