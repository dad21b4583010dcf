//go:build linux || darwin

package httpclient

import (
	"net"
	"syscall"
)

// alive reports whether the peer has not closed c, without reading from it:
// a peek that finds the end of the stream (or an error) means closed, one
// that would block or finds data means open.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		case rerr != nil || n == 0:
			open = false
		}
		return true
	})
	return err == nil && open
}
