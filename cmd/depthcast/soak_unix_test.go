//go:build unix

package main

import (
	"net"
	"syscall"
)

// smallBuffers dials client sockets with a small receive buffer, so that a stalled client fills up sooner.
var smallBuffers = &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	if err != nil {
		return err
	}
	return serr
}}
