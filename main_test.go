package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// buildSiesta returns the siesta binary, built once per test binary run.
func buildSiesta(t *testing.T) string { return siestaBinary(t) }

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitForPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

func TestCommand(t *testing.T) {
	t.Parallel()
	bin := buildSiesta(t)

	t.Run("bad values exit 2 with one line", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"--default-partitions=x"}, {"--log-format=xml"}, {"--storage=ftp://x"}, {"--tls-cert=/no/cert.pem", "--tls-key=/no/key.pem"}} {
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			const wantCode = 2
			if !errors.As(err, &exit) || exit.ExitCode() != wantCode {
				t.Errorf("%v: %v, want exit code %d", args, err, wantCode)
			}
			if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1; lines != 1 {
				t.Errorf("%v printed %d lines:\n%s", args, lines, stderr.String())
			}
		}
	})

	t.Run("serves and drains on SIGTERM", func(t *testing.T) {
		t.Parallel()
		addr := freePort(t)
		cmd := exec.Command(bin, "--listen", addr, "--log-format", "json")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitForPort(t, addr)

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("cmd"),
			kgo.ConsumeTopics("cmd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := range 10 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		var got int
		for got < 10 && ctx.Err() == nil {
			got += len(cl.PollFetches(ctx).Records())
		}
		if got != 10 {
			t.Fatalf("consumed %d of 10", got)
		}
		cl.Close()

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
			t.Errorf("no JSON 'stopped' log line:\n%s", stderr.String())
		}
	})
}

// TestMetricsEndpoint produces one record and reads /metrics: operation
// counters on every storage, and on S3 also the HTTP requests sent to the
// store, which is what it bills.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		storage func(t *testing.T) brokerStorage
		want    []string // lines that must be there
		nonzero []string // counters the produce must have moved
	}{
		{
			name:    "memory",
			storage: func(*testing.T) brokerStorage { return brokerStorage{URL: "memory://"} },
			want:    []string{`siesta_storage_requests_total{kind="LIST"}`, "siesta_connections "},
			nonzero: []string{`siesta_storage_requests_total{kind="PUT"}`},
		},
		{
			name:    "s3",
			storage: newS3Storage,
			want:    []string{`siesta_storage_requests_total{kind="LIST"}`, "siesta_connections "},
			nonzero: []string{`siesta_storage_requests_total{kind="PUT"}`, `siesta_s3_http_requests_total{kind="PUT"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			metricsAddr := freePort(t)
			b := startBrokerProcess(t, tt.storage(t), "--metrics-listen", metricsAddr)
			waitForPort(t, metricsAddr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.AllowAutoTopicCreation())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "metrics", Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			for _, want := range append(tt.want, tt.nonzero...) {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q:\n%s", want, body)
				}
			}
			for _, counter := range tt.nonzero {
				if strings.Contains(string(body), counter+" 0\n") {
					t.Errorf("a produce left %s at 0:\n%s", counter, body)
				}
			}
		})
	}
}

func TestBackupCommand(t *testing.T) {
	t.Parallel()
	bin := buildSiesta(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "siesta.db")
	addr := startBrokerProcess(t, brokerStorage{URL: "sqlite://" + db}).addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "backed-up", Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// A copy taken while the broker runs...
	copyPath := filepath.Join(dir, "copy.db")
	if out, err := exec.Command(bin, "backup", "--storage", "sqlite://"+db, "--to", copyPath).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	// ...serves everything to a broker started on it.
	copyAddr := startBrokerProcess(t, brokerStorage{URL: "sqlite://" + copyPath}).addr
	reader, err := kgo.NewClient(kgo.SeedBrokers(copyAddr), kgo.ConsumeTopics("backed-up"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	got := 0
	for got < 20 && ctx.Err() == nil {
		got += len(reader.PollFetches(ctx).Records())
	}
	if got != 20 {
		t.Fatalf("the copy served %d of 20 records", got)
	}

	for _, args := range [][]string{{"backup"}, {"backup", "--storage", "memory://", "--to", filepath.Join(dir, "x")}, {"backup", "--storage", "sqlite://" + db, "--to", copyPath}} {
		err := exec.Command(bin, args...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("%v: %v, want a failure", args, err)
		}
	}
}
