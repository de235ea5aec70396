// Package bench measures produce and consume throughput and produce latency
// with a franz-go client, against siesta and against franz-go's kfake, so
// that the two are measured the same way in the same process. It is used by
// cmd/siesta-bench (scripts/bench) and by the Go benchmarks in broker/.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/siestamq/siesta/broker"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// Target names, as printed in results.
const (
	SiestaMemory = "siesta-memory"
	Kfake        = "kfake"
)

// Targets lists every target Start knows, in the order results are shown.
var Targets = []string{SiestaMemory, Kfake}

// Target is a running Kafka-compatible broker that a client can reach at
// Addr, holding the topics it was started with.
type Target struct {
	Name string
	Addr string
	stop func()
}

// Close stops the broker and releases what it holds.
func (t *Target) Close() { t.stop() }

// Start starts the named target on a loopback port with each topic created
// with the given number of partitions.
func Start(ctx context.Context, name string, partitions int32, topics ...string) (*Target, error) {
	switch name {
	case SiestaMemory:
		return startSiesta(ctx, partitions, topics)
	case Kfake:
		return startKfake(partitions, topics)
	}
	return nil, fmt.Errorf("unknown target %q (want one of %v)", name, Targets)
}

// startSiesta runs a broker in this process over a fresh memory bucket,
// with the engine's and the server's defaults (as `go run .` does).
func startSiesta(ctx context.Context, partitions int32, topics []string) (*Target, error) {
	engine := objectstore.New(memory.New(), objectstore.Options{})
	for _, name := range topics {
		if _, err := engine.CreateTopic(ctx, name, partitions, nil); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	srv, err := broker.New(broker.Config{Engine: engine, AutoCreateTopics: true})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
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
	}
	return &Target{Name: SiestaMemory, Addr: ln.Addr().String(), stop: stop}, nil
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
