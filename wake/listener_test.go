package wake

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestListenerBinds(t *testing.T) {
	// Not parallel: it sets LISTEN_* in this process's environment.
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no activation", nil},
		{"activation for another process", map[string]string{"LISTEN_PID": strconv.Itoa(os.Getpid() + 1), "LISTEN_FDS": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ln, activated, err := Listener("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if activated {
				t.Error("activated, want a bound socket")
			}
			if _, port, _ := net.SplitHostPort(ln.Addr().String()); port == "0" {
				t.Errorf("listening on %v", ln.Addr())
			}
		})
	}
	if _, _, err := Listener("127.0.0.1:bad"); err == nil {
		t.Error("Listener with a bad address: no error")
	}
}

// listenerResult is what the helper process reports about its Listener.
type listenerResult struct {
	Activated bool
	Addr      string
	Err       string
	EnvLeft   string // LISTEN_FDS after the call
}

// TestListenerHelper is not a test: it is the process that
// TestListenerInherits starts with sockets as descriptors 3 and up, as
// systemd would. It calls Listener, reports, and answers one connection.
func TestListenerHelper(t *testing.T) {
	if os.Getenv("WAKE_LISTENER_HELPER") == "" {
		t.Skip("helper process for TestListenerInherits")
	}
	// systemd sets LISTEN_PID between fork and exec; exec.Cmd cannot.
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	ln, activated, err := Listener("127.0.0.1:1") // never bound when activated
	res := listenerResult{Activated: activated, EnvLeft: os.Getenv("LISTEN_FDS")}
	if err != nil {
		res.Err = err.Error()
	} else {
		res.Addr = ln.Addr().String()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Stdout.Close()
	if err != nil {
		return
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "served by the helper")
	c.Close()
}

func TestListenerInherits(t *testing.T) {
	t.Parallel()
	tcp := func(t *testing.T) (*os.File, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		return f, ln.Addr().String()
	}
	udp := func(t *testing.T) (*os.File, string) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		f, err := pc.(*net.UDPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		return f, ""
	}
	unix := func(t *testing.T) (*os.File, string) {
		ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		f, err := ln.(*net.UnixListener).File()
		if err != nil {
			t.Fatal(err)
		}
		return f, ""
	}
	// connected is one end of a TCP connection, what Accept=yes passes.
	connected := func(t *testing.T) (*os.File, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		return f, ""
	}

	type socket = func(*testing.T) (*os.File, string)
	tests := []struct {
		name    string
		sockets []socket
		wantErr string // empty: the one TCP socket is served
	}{
		{"one TCP listener", []socket{tcp}, ""},
		{"two listeners", []socket{tcp, tcp}, "2 inherited sockets"},
		{"a UDP socket", []socket{udp}, "not a stream socket"},
		{"a unix socket", []socket{unix}, "a unix socket, want tcp"},
		{"a connection (Accept=yes)", []socket{connected}, "Accept=no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var files []*os.File
			var addrs []string
			for _, open := range tt.sockets {
				f, addr := open(t)
				addrs = append(addrs, addr)
				defer f.Close()
				files = append(files, f)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestListenerHelper$")
			cmd.Env = append(os.Environ(), "WAKE_LISTENER_HELPER=1", "LISTEN_FDS="+strconv.Itoa(len(files)))
			cmd.ExtraFiles = files
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			var res listenerResult
			if err := json.NewDecoder(stdout).Decode(&res); err != nil {
				t.Fatalf("helper report: %v", err)
			}
			if !res.Activated {
				t.Error("not activated")
			}
			if res.EnvLeft != "" {
				t.Errorf("LISTEN_FDS=%s left in the environment", res.EnvLeft)
			}
			if tt.wantErr != "" {
				if !strings.Contains(res.Err, tt.wantErr) {
					t.Errorf("error %q, want one containing %q", res.Err, tt.wantErr)
				}
				return
			}
			if res.Err != "" {
				t.Fatal(res.Err)
			}
			if res.Addr != addrs[0] {
				t.Errorf("serving on %s, want the inherited %s", res.Addr, addrs[0])
			}
			c, err := net.Dial("tcp", res.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, _ := io.ReadAll(c)
			if string(got) != "served by the helper" {
				t.Errorf("read %q from %s", got, res.Addr)
			}
		})
	}
}
