package wake

import (
	"net"
	"syscall"
)

// checkListening returns errNotListening unless listen(2) was called on
// the socket: net.FileListener accepts a connected socket too, and Accept
// on it would fail only later, with EINVAL.
func checkListening(tl *net.TCPListener) error {
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var accepting int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		accepting, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if accepting == 0 {
		return errNotListening
	}
	return nil
}
