//go:build !linux

package feed

import (
	"net"
	"syscall"
)

// iovecs is unused where the flusher is not built: every connection writes through its write loop.
type iovecs [][]byte

func (v iovecs) add(p []byte) iovecs { return append(v, p) }

func (c *netConn) tryWritev(syscall.RawConn, iovecs) int { return 0 }

// rawConnOf returns nil: non-blocking writes are only done on Linux.
func rawConnOf(net.Conn) syscall.RawConn { return nil }
