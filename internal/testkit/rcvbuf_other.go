//go:build !unix

package testkit

import "syscall"

// SmallReceiveBuffer leaves the socket as it is where buffer sizes cannot be set the Unix way.
func SmallReceiveBuffer(_, _ string, _ syscall.RawConn) error { return nil }
