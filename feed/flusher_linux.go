package feed

import (
	"net"
	"syscall"
	"unsafe"
)

// iovecs is the buffer list of one writev(2).
type iovecs []syscall.Iovec

func (v iovecs) add(p []byte) iovecs {
	v = append(v, syscall.Iovec{Base: unsafe.SliceData(p)})
	v[len(v)-1].SetLen(len(p))
	return v
}

// tryWritev writes iov with one non-blocking writev(2) and returns the bytes written: 0 when the socket
// is full, its deadline has passed or the call failed (the caller hands the rest to a blocking write,
// which reports the error). c.wmu must be held.
func (c *netConn) tryWritev(raw syscall.RawConn, iov iovecs) int {
	if c.writev == nil { // made once per connection: a closure per call would be an allocation per write
		c.writev = func(fd uintptr) bool {
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.iov))), uintptr(len(c.iov)))
			if e == 0 {
				c.wrote = int(r)
			}
			return true
		}
	}
	c.iov, c.wrote = iov, 0
	err := raw.Write(c.writev)
	c.iov = nil
	if err != nil {
		return 0
	}
	return c.wrote
}

// rawConnOf returns the syscall.RawConn of a plain TCP connection, or nil (TLS and others: no flusher).
func rawConnOf(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
