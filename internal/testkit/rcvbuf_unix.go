//go:build unix

package testkit

import "syscall"

// SmallReceiveBuffer is a net.Dialer Control that gives the socket a 4 KiB receive buffer before it
// connects (shrinking it on an established connection makes the kernel drop segments): a client that stops
// reading then fills up, and its server's queue with it, sooner.
func SmallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}
