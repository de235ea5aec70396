package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIdleExit runs the binary with SIESTA_IDLE_TIMEOUT on a socket it
// inherits, as from systemd: it serves on that socket, stays up while a
// client is connected, exits 0 once idle, and the socket, still held here,
// queues the next connection for the next broker.
func TestIdleExit(t *testing.T) {
	t.Parallel()
	bin := buildSiesta(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()

	const idle = time.Second
	// LISTEN_PID must be the broker's pid, known only after fork; the
	// shell sets it and execs, keeping its pid, as systemd does.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ exec "$0"`, bin)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "SIESTA_IDLE_TIMEOUT="+idle.String(), "SIESTA_LISTEN=127.0.0.1:1")
	cmd.ExtraFiles = []*os.File{f}
	proc := startProcess(t, cmd)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("idle"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proc.exited:
		t.Fatalf("exited (%v) while a client was connected", proc.err)
	case <-time.After(3 * idle):
	}
	cl.Close()
	closed := time.Now()
	select {
	case <-proc.exited:
		if proc.err != nil {
			t.Fatalf("exit when idle: %v, want status 0", proc.err)
		}
	case <-time.After(idle + 10*time.Second):
		t.Fatal("still running 10s after the idle timeout")
	}
	if d := time.Since(closed); d < idle {
		t.Errorf("exited %v after the client left, before the %v idle timeout", d, idle)
	}
	for _, want := range []string{"socket_activated=true", "listen=" + addr, `msg="idle, stopping"`, "msg=stopped"} {
		if !strings.Contains(proc.stderr.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}

	// The socket outlived the broker: a connection made now is queued
	// for the next one rather than refused.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("connect after the broker exited: %v", err)
	}
	c.Close()
}

// TestSignalsDrain: Fly stops a Machine with SIGINT, systemd with SIGTERM;
// both drain and exit 0.
func TestSignalsDrain(t *testing.T) {
	t.Parallel()
	bin := buildSiesta(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			addr := freePort(t)
			cmd := exec.Command(bin, "--listen", addr)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitForPort(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("signals"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			// The client stays connected: the drain closes it.
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after %v: %v\n%s", sig, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "msg=stopped") {
				t.Errorf("no 'stopped' log line:\n%s", stderr.String())
			}
		})
	}
}
