// Command siesta-bench measures produce and consume throughput and produce
// latency with a franz-go client, against siesta (in this process, over a
// memory bucket, a MinIO bucket or a SQLite file) and against franz-go's
// kfake (also in this process), and prints the results as a markdown table.
// For siesta over MinIO or SQLite the table also shows the storage requests
// made per MB produced and consumed. scripts/bench runs it; see
// docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siestamq/siesta/internal/bench"
	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "siesta-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("siesta-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        bench.Config
		targets    = fs.String("targets", strings.Join(bench.Targets, ","), "comma-separated targets to measure, of "+strings.Join(bench.Known, ", "))
		minioBin   = fs.String("minio", "", "MinIO server binary for siesta-s3 (default: $SIESTA_MINIO, else scripts/minio's cache, else $PATH)")
		env        bench.Env
		partitions = fs.String("partitions", "1,16", "comma-separated partition counts")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	)
	fs.IntVar(&cfg.Records, "records", 200_000, "records produced, then consumed, per line")
	fs.IntVar(&cfg.LatencyRecords, "latency-records", 5_000, "single records produced one at a time for the latency percentiles")
	fs.IntVar(&cfg.WarmupRecords, "warmup", 20_000, "records produced and consumed before measuring")
	fs.StringVar(&env.Dir, "sqlite-dir", "", "directory for siesta-sqlite's database files (default: the system's temporary directory)")
	runs := fs.Int("runs", 9, "times each line is measured, interleaving targets; the table shows medians")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cfg.Records <= 0 || cfg.LatencyRecords <= 0 || *runs <= 0 || cfg.WarmupRecords < 0 {
		return fmt.Errorf("-records, -latency-records and -runs must be positive, -warmup not negative")
	}
	var counts []int32
	for _, s := range strings.Split(*partitions, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil || n <= 0 {
			return fmt.Errorf("bad partition count %q", s)
		}
		counts = append(counts, int32(n))
	}
	var names []string
	storage := false // a target whose storage requests are worth showing
	for _, name := range strings.Split(*targets, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(bench.Known, name) {
			return fmt.Errorf("unknown target %q (want one of %v)", name, bench.Known)
		}
		names = append(names, name)
		storage = storage || (name != bench.SiestaMemory && name != bench.Kfake)
	}
	if slices.Contains(names, bench.SiestaS3) {
		fmt.Fprintln(stderr, "siesta-bench: starting MinIO")
		srv, err := miniotest.Launch(*minioBin)
		if err != nil {
			return fmt.Errorf("start minio: %w", err)
		}
		defer srv.Close()
		env.MinIO = srv
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Runs interleave the targets, alternating which goes first, so that
	// whatever else the machine is doing (and the garbage the previous
	// line left) weighs on both alike; each cell is the median over the
	// runs.
	type lineKey struct {
		partitions int32
		target     string
	}
	results := make(map[lineKey][]bench.Line)
	for run := 1; run <= *runs; run++ {
		for _, p := range counts {
			order := slices.Clone(names)
			if run%2 == 0 {
				slices.Reverse(order)
			}
			for _, name := range order {
				l, err := bench.RunLine(ctx, env, name, p, cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(stderr, "siesta-bench: run %d/%d %s, %d partitions: produce %.0f/s, consume %.0f/s, p50 %s, p99 %s; storage requests: produce %s, consume %s\n",
					run, *runs, name, p, l.Produce.RecordsPerSec(), l.Consume.RecordsPerSec(), ms(l.P50), ms(l.P99),
					requests(l.ProduceRequests), requests(l.ConsumeRequests))
				k := lineKey{p, name}
				results[k] = append(results[k], l)
			}
		}
	}

	fmt.Fprintf(stdout, "%d records of %d B per line (values only, uncompressed), %d warm-up records, latency over %d single-record ProduceSync calls, median of %d runs; %s, GOMAXPROCS=%d\n\n",
		cfg.Records, bench.RecordSize, cfg.WarmupRecords, cfg.LatencyRecords, *runs, runtime.Version(), runtime.GOMAXPROCS(0))
	header := "| target | partitions | produce records/s | produce MB/s | consume records/s | consume MB/s | produce p50 | produce p99 |"
	rule := "|---|---:|---:|---:|---:|---:|---:|---:|"
	if storage {
		header += " produce requests/MB | consume requests/MB |"
		rule += "---:|---:|"
	}
	fmt.Fprintln(stdout, header)
	fmt.Fprintln(stdout, rule)
	for _, p := range counts {
		for _, name := range names {
			ls := results[lineKey{p, name}]
			fmt.Fprintf(stdout, "| %s | %d | %.0f | %.1f | %.0f | %.1f | %.2f ms | %.2f ms |", name, p,
				median(ls, func(l bench.Line) float64 { return l.Produce.RecordsPerSec() }),
				median(ls, func(l bench.Line) float64 { return l.Produce.MBPerSec() }),
				median(ls, func(l bench.Line) float64 { return l.Consume.RecordsPerSec() }),
				median(ls, func(l bench.Line) float64 { return l.Consume.MBPerSec() }),
				median(ls, func(l bench.Line) float64 { return msf(l.P50) }),
				median(ls, func(l bench.Line) float64 { return msf(l.P99) }))
			if storage {
				if name == bench.Kfake {
					fmt.Fprint(stdout, " | |")
				} else {
					fmt.Fprintf(stdout, " %.2f | %.2f |",
						median(ls, func(l bench.Line) float64 { return bench.RequestsPerMB(l.ProduceRequests, l.Produce) }),
						median(ls, func(l bench.Line) float64 { return bench.RequestsPerMB(l.ConsumeRequests, l.Consume) }))
				}
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

// requests formats storage request counts by kind, leaving out kinds not
// made.
func requests(c objectstore.RequestCounts) string {
	var parts []string
	for _, k := range []objectstore.RequestKind{objectstore.RequestPut, objectstore.RequestGet, objectstore.RequestList, objectstore.RequestHead, objectstore.RequestDelete} {
		if n := c.Of(k); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// median returns the median of one measure over several runs of a line.
func median(ls []bench.Line, measure func(bench.Line) float64) float64 {
	vs := make([]float64, len(ls))
	for i, l := range ls {
		vs[i] = measure(l)
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[n/2]
}

// msf is a duration in milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms formats a latency in milliseconds with enough digits for loopback.
func ms(d time.Duration) string { return strconv.FormatFloat(msf(d), 'f', 2, 64) + " ms" }
