package feed

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// guardedWriter is the ResponseWriter of an admitted upgrade request: unless the route claimed the
// admission (and releases it itself), the connection its Hijack returns releases the admission when it is
// closed.
type guardedWriter struct {
	http.ResponseWriter
	adm      *admission
	hijacked bool
}

// Hijack takes over the connection; closing the returned conn releases the connection's slots.
func (w *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	w.adm.mu.Lock()
	defer w.adm.mu.Unlock()
	if w.adm.claimed {
		w.adm.conn = c
		return c, brw, nil
	}
	gc := &guardedConn{Conn: c, adm: w.adm}
	w.adm.conn = gc
	return gc, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *guardedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// guardedConn is a hijacked connection that releases its admission once closed.
type guardedConn struct {
	net.Conn
	adm  *admission
	once sync.Once
}

// Close closes the connection and releases its slots.
func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.adm.release)
	return err
}

// CloseWrite shuts the write side when the connection supports it (TCP, TLS).
func (c *guardedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the wrapped connection.
func (c *guardedConn) NetConn() net.Conn { return c.Conn }
