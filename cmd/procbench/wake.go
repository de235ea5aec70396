package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/internal/bench"
	"github.com/siestamq/siesta/internal/miniotest"
)

func wake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("procbench wake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	runs := fs.Int("runs", 20, "wakes measured per storage; the table shows the median")
	latency := fs.Duration("store-latency", 20*time.Millisecond, "also measure s3 through a proxy that delays each request to MinIO this long, as a remote store would (0: skip)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		return errors.New("systemd-socket-activate not found (Debian package systemd)")
	}
	type storage struct {
		name, url string
		env       []string
	}
	storages := []storage{{"memory", "memory://", nil}}
	if c.minio != "" {
		srv, url, env, err := launchMinIO(ctx, c.minio, "wake")
		if err != nil {
			return err
		}
		defer srv.Close()
		storages = append(storages, storage{"s3", url, env})
		if *latency > 0 {
			slow, err := miniotest.DelayingProxy(srv.Endpoint, *latency)
			if err != nil {
				return err
			}
			defer slow.Close()
			name := fmt.Sprintf("s3, +%v per request", *latency)
			storages = append(storages, storage{name, strings.Replace(url, srv.Endpoint, slow.URL, 1), env})
		}
	}

	fmt.Fprintf(stdout, "siesta under systemd-socket-activate, a new franz-go producer (acks=all, idempotent, no linger) per wake: from creating it (it connects at once) to its first record acknowledged, topic auto-created; %d wakes per storage (1 unmeasured first); %s\n\n", *runs, machine())
	fmt.Fprintln(stdout, "| storage | first produce, waking siesta: median | p90 | first produce of a second new client, siesta running: median | p90 |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|")
	for _, s := range storages {
		var cold, warm durations
		for run := 0; run <= *runs; run++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			c, w, err := wakeOnce(ctx, activate, c.siesta, s.url, s.env)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if run > 0 {
				cold, warm = append(cold, c), append(warm, w)
			}
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %s | %s |\n", s.name, ms(cold.quantile(0.5)), ms(cold.quantile(0.9)), ms(warm.quantile(0.5)), ms(warm.quantile(0.9)))
	}
	return nil
}

// wakeOnce has systemd-socket-activate hold a socket for siesta, then
// produces one record with a new client, which wakes siesta, and one with
// a second new client once siesta runs.
func wakeOnce(ctx context.Context, activate, bin, storage string, env []string) (cold, warm time.Duration, err error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, err
	}
	// systemd-socket-activate hands on only the variables named with -E.
	vars := append([]string{"SIESTA_STORAGE=" + storage}, env...)
	args := []string{"--listen=" + addr}
	for _, v := range vars {
		name, _, _ := strings.Cut(v, "=")
		args = append(args, "-E", name)
	}
	cmd := exec.Command(activate, append(args, bin)...)
	cmd.Env = siestaEnv(vars...)
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL) // siesta, which the launcher became
		cmd.Wait()
	}()
	// The launcher says "Listening on ..." once it holds the socket; it
	// execs siesta at the first connection.
	lines := bufio.NewScanner(stderrPipe)
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "Listening on") {
			break
		}
	}
	go io.Copy(io.Discard, stderrPipe)
	if cold, err = firstProduce(ctx, addr); err != nil {
		return 0, 0, fmt.Errorf("%w; launcher: %s", err, log.String())
	}
	warm, err = firstProduce(ctx, addr)
	return cold, warm, err
}

// firstProduce times a new client's first record, from before it connects
// to the acknowledgement: dial, ApiVersions, Metadata (creating the topic
// the first time), InitProducerID and Produce. The client does not linger:
// a lone record would otherwise wait franz-go's 10ms linger.
func firstProduce(ctx context.Context, addr string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	cl, err := bench.NewProducer(addr, kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "wake", Value: []byte("wake")}).FirstErr(); err != nil {
		return 0, fmt.Errorf("produce: %w", err)
	}
	return time.Since(start), nil
}
