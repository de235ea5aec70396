package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// server is a program whose cold start is measured: how to start it on
// addr, and the request it must answer.
type server struct {
	name  string
	start func(addr string) *exec.Cmd
	probe func(c net.Conn) error
	close func() // releases what the target needs besides itself; may be nil
}

func coldstart(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("procbench coldstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	runs := fs.Int("runs", 50, "measured starts of each target, interleaved; the table shows the median")
	warmup := fs.Int("warmup", 3, "unmeasured starts of each target first (page cache, MinIO connections)")
	retry := fs.Duration("retry", 100*time.Microsecond, "wait between attempts to connect while the process starts")
	floor := fs.String("floor", "", "the floor program (cmd/procbench/floor, built like siesta) for the go-floor target (default: skip it)")
	targets := fs.String("targets", "go-floor,siesta-memory,siesta-sqlite,siesta-s3,nats-server,redis-server", "comma-separated targets; go-floor needs -floor, siesta-s3 -minio, the others their program on $PATH")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "procbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var servers []server
	defer func() {
		for _, s := range servers {
			if s.close != nil {
				s.close()
			}
		}
	}()
	for _, name := range strings.Split(*targets, ",") {
		s, err := coldTarget(ctx, strings.TrimSpace(name), c, *floor, work)
		if errors.Is(err, errSkip) {
			fmt.Fprintf(stderr, "procbench: skipping %s\n", name)
			continue
		}
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}

	results := make(map[string]durations)
	for run := -*warmup + 1; run <= *runs; run++ {
		order := slices.Clone(servers)
		if run%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, err := startOnce(ctx, s, *retry)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if run > 0 {
				results[s.name] = append(results[s.name], d)
			}
		}
	}

	fmt.Fprintf(stdout, "exec to first answer, %d runs each (after %d unmeasured), targets interleaved, connect retried every %v; %s\n\n", *runs, *warmup, *retry, machine())
	fmt.Fprintln(stdout, "| target | answer | median | p10 | p90 | min | max |")
	fmt.Fprintln(stdout, "|---|---|---:|---:|---:|---:|---:|")
	for _, s := range servers {
		d := results[s.name]
		fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s | %s | %s |\n", s.name, answers[s.name],
			ms(d.quantile(0.5)), ms(d.quantile(0.1)), ms(d.quantile(0.9)), ms(d.quantile(0)), ms(d.quantile(1)))
	}
	return nil
}

// answers names what each target's probe waits for.
var answers = map[string]string{
	"go-floor":      "ApiVersions",
	"siesta-memory": "ApiVersions",
	"siesta-sqlite": "ApiVersions",
	"siesta-s3":     "ApiVersions",
	"nats-server":   "INFO, then PONG",
	"redis-server":  "PONG",
}

var errSkip = errors.New("skip")

func coldTarget(ctx context.Context, name string, c common, floor, work string) (server, error) {
	siesta := func(storage string, env ...string) func(string) *exec.Cmd {
		return func(addr string) *exec.Cmd {
			cmd := exec.Command(c.siesta)
			cmd.Env = siestaEnv(append([]string{"SIESTA_LISTEN=" + addr, "SIESTA_STORAGE=" + storage}, env...)...)
			return cmd
		}
	}
	switch name {
	case "go-floor":
		if floor == "" {
			return server{}, errSkip
		}
		return server{name: name, probe: apiVersions, start: func(addr string) *exec.Cmd {
			cmd := exec.Command(floor)
			cmd.Env = []string{"SIESTA_LISTEN=" + addr}
			return cmd
		}}, nil
	case "siesta-memory":
		return server{name: name, start: siesta("memory://"), probe: apiVersions}, nil
	case "siesta-sqlite":
		// One file for every run: the first (unmeasured) start creates it,
		// as a restarted broker finds its database.
		return server{name: name, start: siesta("sqlite://" + filepath.Join(work, "siesta.db")), probe: apiVersions}, nil
	case "siesta-s3":
		if c.minio == "" {
			return server{}, errSkip
		}
		srv, storage, env, err := launchMinIO(ctx, c.minio, "coldstart")
		if err != nil {
			return server{}, err
		}
		return server{name: name, start: siesta(storage, env...), probe: apiVersions, close: srv.Close}, nil
	case "nats-server":
		bin, err := exec.LookPath("nats-server")
		if err != nil {
			return server{}, errSkip
		}
		return server{name: name, probe: natsPing, start: func(addr string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(bin, "-a", host, "-p", port)
		}}, nil
	case "redis-server":
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			return server{}, errSkip
		}
		return server{name: name, probe: redisPing, start: func(addr string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--dir", work)
		}}, nil
	}
	return server{}, fmt.Errorf("unknown target %q", name)
}

// startOnce execs s on a free port, connects as soon as it accepts, waits
// for its answer to the probe, and kills it. It returns the time from just
// before exec to the answer.
func startOnce(ctx context.Context, s server, retry time.Duration) (time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := s.start(addr)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := start.Add(10 * time.Second)
	var conn net.Conn
	for {
		conn, err = net.Dial("tcp", addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, fmt.Errorf("not accepting after 10s: %v; output: %s", err, out.String())
		}
		time.Sleep(retry)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	if err := s.probe(conn); err != nil {
		return 0, fmt.Errorf("probe: %w; output: %s", err, out.String())
	}
	return time.Since(start), nil
}

// apiVersions sends a Kafka ApiVersions v3 request and reads the answer.
func apiVersions(c net.Conn) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "procbench", "1"
	// Request header v2: key, version, correlation id, client id, tags.
	var b []byte
	b = append(b, 0, 0, 0, 0) // size, filled below
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.Version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len("procbench")))
	b = append(b, "procbench"...)
	b = append(b, 0) // no tagged fields
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return err
	}
	// Response header v0 (ApiVersions answers never use the flexible
	// header): the correlation id.
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// natsPing reads the INFO line a NATS server sends on connect, then
// connects and pings.
func natsPing(c net.Conn) error {
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("want INFO, got %q", line)
	}
	if _, err := io.WriteString(c, "CONNECT {\"verbose\":false}\r\nPING\r\n"); err != nil {
		return err
	}
	return expectLine(r, "PONG")
}

// redisPing sends PING and waits for PONG.
func redisPing(c net.Conn) error {
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	return expectLine(bufio.NewReader(c), "+PONG")
}

func expectLine(r *bufio.Reader, want string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != want {
		return fmt.Errorf("want %s, got %q", want, line)
	}
	return nil
}
