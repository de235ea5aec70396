package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/internal/bench"
)

func memory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("procbench memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	records := fs.Int("records", 100_000, "records of 1 KiB produced before the second reading")
	partitions := fs.Int("partitions", 1, "partitions of the topic produced to")
	cacheBytes := fs.String("cache-bytes", "", "SIESTA_CACHE_BYTES for siesta (default: siesta's, 64 MiB)")
	memoryLimit := fs.String("memory-limit", "", "GOMEMLIMIT for siesta, such as 200MiB (default: siesta's)")
	settle := fs.Duration("settle", 2*time.Second, "wait before each reading, so that the runtime returns what it no longer uses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	info, err := os.Stat(c.siesta)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "procbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	type storage struct {
		name, url string
		env       []string
	}
	var extra []string
	if *cacheBytes != "" {
		extra = append(extra, "SIESTA_CACHE_BYTES="+*cacheBytes)
	}
	if *memoryLimit != "" {
		extra = append(extra, "GOMEMLIMIT="+*memoryLimit)
	}
	storages := []storage{
		{"memory", "memory://", extra},
		{"sqlite", "sqlite://" + filepath.Join(work, "siesta.db"), extra},
	}
	if c.minio != "" {
		srv, url, env, err := launchMinIO(ctx, c.minio, "memory")
		if err != nil {
			return err
		}
		defer srv.Close()
		storages = append(storages, storage{"s3", url, append(env, extra...)})
	}

	fmt.Fprintf(stdout, "%s: %d bytes (%.1f MB); resident memory (VmRSS; VmHWM is the peak) read %v after start and %v after %d records of 1 KiB produced to %d partition(s) with acks=all; %s\n\n",
		filepath.Base(c.siesta), info.Size(), float64(info.Size())/1e6, *settle, *settle, *records, *partitions, machine())
	fmt.Fprintln(stdout, "| storage | idle VmRSS | after produce VmRSS | after produce VmHWM |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|")
	for _, s := range storages {
		idle, after, peak, err := measureMemory(ctx, c.siesta, s.url, s.env, *records, int32(*partitions), *settle)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %s |\n", s.name, mib(idle), mib(after), mib(peak))
	}
	return nil
}

// measureMemory starts siesta on storage, reads its resident memory once it
// answers and once it has taken records, and stops it.
func measureMemory(ctx context.Context, bin, storage string, env []string, records int, partitions int32, settle time.Duration) (idle, after, peak int64, err error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.Command(bin)
	cmd.Env = siestaEnv(append([]string{"SIESTA_LISTEN=" + addr, "SIESTA_STORAGE=" + storage,
		fmt.Sprintf("SIESTA_DEFAULT_PARTITIONS=%d", partitions)}, env...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	if err := waitAnswer(ctx, addr); err != nil {
		return 0, 0, 0, fmt.Errorf("%w; output: %s", err, out.String())
	}
	time.Sleep(settle)
	if idle, _, err = rss(cmd.Process.Pid); err != nil {
		return 0, 0, 0, err
	}
	producer, err := bench.NewProducer(addr, kgo.AllowAutoTopicCreation())
	if err != nil {
		return 0, 0, 0, err
	}
	_, err = bench.Produce(ctx, producer, "memory", partitions, records)
	producer.Close()
	if err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(settle)
	after, peak, err = rss(cmd.Process.Pid)
	return idle, after, peak, err
}

// waitAnswer connects to addr until it answers an ApiVersions request.
func waitAnswer(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.SetDeadline(deadline)
			err = apiVersions(c)
			c.Close()
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not accepting after 10s: %w", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// rss reads a process's resident memory and its peak, in bytes.
func rss(pid int) (cur, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		field, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (field != "VmRSS" && field != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", field, err)
		}
		if field == "VmRSS" {
			cur = kb * 1024
		} else {
			peak = kb * 1024
		}
	}
	return cur, peak, sc.Err()
}

// mib formats a byte count in MiB (and MB, since goals are stated in MB).
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB (%.1f MB)", float64(b)/(1<<20), float64(b)/1e6)
}
