// Package bench measures produce and consume throughput and produce latency
// with a franz-go client, against siesta and against franz-go's kfake, so
// that the two are measured the same way in the same process. It is used by
// cmd/siesta-bench (scripts/bench) and by the Go benchmarks in broker/.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siestamq/siesta/broker"
	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
	"github.com/siestamq/siesta/objectstore/s3"
	"github.com/siestamq/siesta/objectstore/sqlite"
)

// Target names, as printed in results.
const (
	SiestaMemory       = "siesta-memory"
	SiestaS3           = "siesta-s3"            // a MinIO bucket (Env.MinIO)
	SiestaSQLite       = "siesta-sqlite"        // synchronous=full, the default
	SiestaSQLiteNormal = "siesta-sqlite-normal" // synchronous=normal
	Kfake              = "kfake"
)

// Targets lists the targets measured by default, in the order results are
// shown. Known lists every target Start knows.
var (
	Targets = []string{SiestaMemory, Kfake}
	Known   = []string{SiestaMemory, SiestaS3, SiestaSQLite, SiestaSQLiteNormal, Kfake}
)

// S3Linger is the linger siesta uses on s3:// with SIESTA_LINGER=auto (see
// infra.Config.LingerDuration); the S3 target uses the same.
const S3Linger = 5 * time.Millisecond

// Env is what targets other than memory and kfake need. The zero value
// serves siesta-memory and kfake.
type Env struct {
	// MinIO serves siesta-s3: each line gets a new bucket in it.
	MinIO *miniotest.Server
	// Dir holds siesta-sqlite's database files, one per line, removed
	// when the line ends. Empty means the system's temporary directory.
	Dir string
}

// Target is a running Kafka-compatible broker that a client can reach at
// Addr, holding the topics it was started with.
type Target struct {
	Name string
	Addr string
	// Counts returns the storage requests siesta has made so far; nil for
	// kfake.
	Counts func() objectstore.RequestCounts
	stop   func()
}

// Close stops the broker and releases what it holds.
func (t *Target) Close() { t.stop() }

// Start starts the named target on a loopback port with each topic created
// with the given number of partitions. It serves only siesta-memory and
// kfake; StartIn serves every target.
func Start(ctx context.Context, name string, partitions int32, topics ...string) (*Target, error) {
	return StartIn(ctx, Env{}, name, partitions, topics...)
}

// StartIn is Start with the environment the S3 and SQLite targets need.
func StartIn(ctx context.Context, env Env, name string, partitions int32, topics ...string) (*Target, error) {
	switch name {
	case SiestaMemory:
		return startSiesta(ctx, name, memory.New(), objectstore.Options{}, partitions, topics, func() {})
	case SiestaS3:
		return startSiestaS3(ctx, env, partitions, topics)
	case SiestaSQLite, SiestaSQLiteNormal:
		return startSiestaSQLite(ctx, env, name, partitions, topics)
	case Kfake:
		return startKfake(partitions, topics)
	}
	return nil, fmt.Errorf("unknown target %q (want one of %v)", name, Known)
}

// startSiestaS3 runs siesta over a new bucket in env.MinIO, lingering as
// SIESTA_LINGER=auto does on s3://.
func startSiestaS3(ctx context.Context, env Env, partitions int32, topics []string) (*Target, error) {
	if env.MinIO == nil {
		return nil, fmt.Errorf("%s needs a MinIO server (siesta-bench -minio PATH)", SiestaS3)
	}
	name := "bench-" + randomHex()
	if err := env.MinIO.CreateBucket(ctx, name); err != nil {
		return nil, err
	}
	bucket, err := s3.Open(ctx, s3.Options{
		Bucket:          name,
		Endpoint:        env.MinIO.Endpoint,
		Region:          env.MinIO.Region,
		PathStyle:       true,
		AccessKeyID:     env.MinIO.AccessKey,
		SecretAccessKey: env.MinIO.SecretKey,
	})
	if err != nil {
		return nil, err
	}
	return startSiesta(ctx, SiestaS3, bucket, objectstore.Options{Linger: S3Linger}, partitions, topics, func() { bucket.Close() })
}

// startSiestaSQLite runs siesta over a new database file.
func startSiestaSQLite(ctx context.Context, env Env, name string, partitions int32, topics []string) (*Target, error) {
	opts := sqlite.Options{Synchronous: sqlite.SyncFull}
	if name == SiestaSQLiteNormal {
		opts.Synchronous = sqlite.SyncNormal
	}
	dir, err := os.MkdirTemp(env.Dir, "siesta-bench-")
	if err != nil {
		return nil, err
	}
	bucket, err := sqlite.Open(ctx, filepath.Join(dir, "siesta.db"), opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return startSiesta(ctx, name, bucket, objectstore.Options{}, partitions, topics, func() {
		bucket.Close()
		os.RemoveAll(dir)
	})
}

// startSiesta runs a broker in this process over bucket, counting its
// requests as the siesta command does, with the server's defaults. release
// runs after the broker has stopped.
func startSiesta(ctx context.Context, name string, bucket objectstore.Bucket, opts objectstore.Options, partitions int32, topics []string, release func()) (*Target, error) {
	counted := objectstore.NewCountingBucket(bucket)
	engine := objectstore.New(counted, opts)
	fail := func(err error) (*Target, error) {
		engine.Close()
		release()
		return nil, err
	}
	for _, topic := range topics {
		if _, err := engine.CreateTopic(ctx, topic, partitions, nil); err != nil {
			return fail(fmt.Errorf("create topic %s: %w", topic, err))
		}
	}
	srv, err := broker.New(broker.Config{Engine: engine, AutoCreateTopics: true})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	stop := func() {
		cancel()
		drainCtx, drainCancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer drainCancel()
		_ = srv.Shutdown(drainCtx)
		<-served
		engine.Close()
		release()
	}
	return &Target{Name: name, Addr: ln.Addr().String(), Counts: counted.Counts, stop: stop}, nil
}

// startKfake runs a one-broker kfake cluster in this process.
func startKfake(partitions int32, topics []string) (*Target, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, errors.New("kfake: no listen address")
	}
	return &Target{Name: Kfake, Addr: addrs[0], stop: c.Close}, nil
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
