// Command procbench measures siesta as a process, built as shipped: how
// long it takes from exec to its first answer (beside nats-server and
// redis-server), how much memory it holds idle and after taking records,
// and how long a client waits for its first produce when a connection
// wakes it under socket activation. scripts/bench runs it (`scripts/bench
// coldstart`, `memory`, `wake`); see docs/benchmarks.md.
//
// Usage:
//
//	procbench coldstart -siesta BIN [-minio BIN] [-floor BIN] [-runs 50] [-targets ...]
//	procbench memory    -siesta BIN [-minio BIN] [-records 100000]
//	procbench wake      -siesta BIN [-minio BIN] [-runs 20]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/siestamq/siesta/internal/miniotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "procbench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	modes := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"coldstart": coldstart,
		"memory":    memory,
		"wake":      wake,
	}
	if len(args) == 0 || modes[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: procbench coldstart|memory|wake -siesta BIN [flags]; procbench MODE -h lists the flags")
		return errors.New("no mode")
	}
	return modes[args[0]](ctx, args[1:], stdout, stderr)
}

// common are the flags every mode takes.
type common struct {
	siesta string // the siesta binary
	minio  string // the MinIO binary, for S3 storage; empty skips S3
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.siesta, "siesta", "", "siesta binary to measure (build it as shipped: CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\")")
	fs.StringVar(&c.minio, "minio", "", "MinIO server binary for siesta on S3 storage (default: skip S3)")
}

func (c *common) check() error {
	if c.siesta == "" {
		return errors.New("-siesta BIN is required")
	}
	_, err := os.Stat(c.siesta)
	return err
}

// launchMinIO starts a MinIO server with one bucket and returns the storage
// URL and the environment siesta needs to use it.
func launchMinIO(ctx context.Context, bin, bucket string) (srv *miniotest.Server, storage string, env []string, err error) {
	srv, err = miniotest.Launch(bin)
	if err != nil {
		return nil, "", nil, fmt.Errorf("start minio: %w", err)
	}
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		srv.Close()
		return nil, "", nil, err
	}
	storage = fmt.Sprintf("s3://%s/siesta?endpoint=%s&region=%s&path_style=true", bucket, srv.Endpoint, srv.Region)
	env = []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}
	return srv, storage, env, nil
}

// siestaEnv is the environment siesta runs with: PATH and HOME from ours,
// then vars. It is explicit, as under systemd, so that what this machine's
// environment happens to hold does not change the numbers: AWS_CA_BUNDLE,
// for one, makes the AWS SDK parse the whole bundle when siesta opens an
// s3:// bucket, several milliseconds of its start.
func siestaEnv(vars ...string) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return append(env, vars...)
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// durations are measurements of one thing over several runs.
type durations []time.Duration

// quantile returns the q-quantile by nearest rank; 0.5 is the median.
func (d durations) quantile(q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// machine describes where the numbers were taken.
func machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(load))
	if len(fields) > 3 {
		fields = fields[:3]
	}
	return fmt.Sprintf("%s %s/%s, %d CPUs, load average %s", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.Join(fields, " "))
}
