// Package wake lets siesta scale to zero: it serves on a socket inherited
// from systemd (or any launcher speaking the LISTEN_FDS protocol), so that
// connections arriving while no broker runs wait in the socket's backlog,
// and it tells when a broker has been idle long enough to exit.
package wake

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/coreos/go-systemd/v22/activation"
)

// Listener returns the socket to serve Kafka clients on. When the process
// was started by systemd or systemd-socket-activate (LISTEN_PID is this
// process and LISTEN_FDS is set), it is the inherited socket, addr is not
// used and activated is true; the variables are then removed from the
// environment so that child processes do not claim the socket. Otherwise
// it binds addr.
//
// Exactly one inherited socket is expected, a listening TCP socket (a
// .socket unit with ListenStream= and Accept=no); anything else is an
// error naming what was found, and every inherited descriptor is closed.
func Listener(addr string) (ln net.Listener, activated bool, err error) {
	files := activation.Files(true)
	if len(files) == 0 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, false, fmt.Errorf("listen: %w", err)
		}
		return ln, false, nil
	}
	defer func() {
		for _, f := range files {
			f.Close() // the listener holds its own duplicate
		}
	}()
	if len(files) != 1 {
		return nil, true, fmt.Errorf("socket activation: %d inherited sockets (LISTEN_FDS), want one TCP listener", len(files))
	}
	ln, err = inheritedTCP(files[0])
	if err != nil {
		return nil, true, fmt.Errorf("socket activation: fd %d (%s): %w", files[0].Fd(), files[0].Name(), err)
	}
	return ln, true, nil
}

// errNotListening is returned for a socket that is connected rather than
// listening, which is what a .socket unit with Accept=yes passes.
var errNotListening = errors.New("not a listening socket (is Accept=yes set in the .socket unit? siesta needs Accept=no)")

func inheritedTCP(f *os.File) (net.Listener, error) {
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("not a stream socket: %w", err)
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("a %s socket, want tcp", ln.Addr().Network())
	}
	if err := checkListening(tl); err != nil {
		tl.Close()
		return nil, err
	}
	return tl, nil
}
