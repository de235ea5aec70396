package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/objectstore"
)

// Topics every line uses: throughput, latency and warm-up records go to
// separate topics so that each measurement reads or writes exactly its own.
const (
	TopicThroughput = "bench"
	TopicLatency    = "bench-latency"
	TopicWarmup     = "bench-warmup"
)

// Config is the size of one line's measurements.
type Config struct {
	Records        int // produced, then consumed, per line
	LatencyRecords int // produced one at a time for the latency percentiles
	WarmupRecords  int // produced and consumed before measuring
}

// Line is one target and partition count's results.
type Line struct {
	Target     string
	Partitions int32
	Produce    Throughput
	Consume    Throughput
	P50, P99   time.Duration
	// Storage requests siesta made during the produce and the consume
	// measurement (zero for kfake).
	ProduceRequests, ConsumeRequests objectstore.RequestCounts
}

// RequestsPerMB is storage requests per MB (10^6 bytes) of record values
// moved.
func RequestsPerMB(c objectstore.RequestCounts, t Throughput) float64 {
	return float64(c.Total()) / (float64(t.Bytes) / 1e6)
}

// since returns the requests made after before was taken.
func since(counts func() objectstore.RequestCounts, before objectstore.RequestCounts) objectstore.RequestCounts {
	if counts == nil {
		return objectstore.RequestCounts{}
	}
	now := counts()
	for k := range now.Requests {
		now.Requests[k] -= before.Requests[k]
		now.Failures[k] -= before.Failures[k]
	}
	return now
}

func snapshot(counts func() objectstore.RequestCounts) objectstore.RequestCounts {
	if counts == nil {
		return objectstore.RequestCounts{}
	}
	return counts()
}

// RunLine starts a fresh target, warms it and the clients up, and measures
// produce throughput, consume throughput (reading back what was produced)
// and produce latency.
func RunLine(ctx context.Context, env Env, target string, partitions int32, cfg Config) (Line, error) {
	line := Line{Target: target, Partitions: partitions}
	t, err := StartIn(ctx, env, target, partitions, TopicThroughput, TopicLatency, TopicWarmup)
	if err != nil {
		return line, err
	}
	defer t.Close()

	producer, err := NewProducer(t.Addr)
	if err != nil {
		return line, err
	}
	defer producer.Close()
	if err := Warm(ctx, t.Addr, producer, partitions, cfg.WarmupRecords); err != nil {
		return line, fmt.Errorf("%s warm-up: %w", target, err)
	}

	runtime.GC()
	before := snapshot(t.Counts)
	if line.Produce, err = Produce(ctx, producer, TopicThroughput, partitions, cfg.Records); err != nil {
		return line, fmt.Errorf("%s: %w", target, err)
	}
	line.ProduceRequests = since(t.Counts, before)

	consumer, err := NewConsumer(t.Addr, TopicThroughput, partitions)
	if err != nil {
		return line, err
	}
	runtime.GC()
	before = snapshot(t.Counts)
	line.Consume, err = Consume(ctx, consumer, cfg.Records)
	line.ConsumeRequests = since(t.Counts, before)
	// Closed before the latency runs, so that no long poll is woken by them.
	consumer.Close()
	if err != nil {
		return line, fmt.Errorf("%s: %w", target, err)
	}

	runtime.GC()
	lat, err := ProduceLatencies(ctx, producer, TopicLatency, partitions, cfg.LatencyRecords)
	if err != nil {
		return line, fmt.Errorf("%s: %w", target, err)
	}
	line.P50, line.P99 = lat.Percentile(0.50), lat.Percentile(0.99)
	return line, nil
}

// Warm produces and consumes n records and runs a few single-record
// produces on the warm-up topic, so that connections, producer ids,
// metadata and both sides' buffers exist before anything is timed.
func Warm(ctx context.Context, addr string, producer *kgo.Client, partitions int32, n int) error {
	if n <= 0 {
		return nil
	}
	if _, err := Produce(ctx, producer, TopicWarmup, partitions, n); err != nil {
		return err
	}
	if _, err := ProduceLatencies(ctx, producer, TopicWarmup, partitions, min(n, 100)); err != nil {
		return err
	}
	consumer, err := NewConsumer(addr, TopicWarmup, partitions)
	if err != nil {
		return err
	}
	defer consumer.Close()
	_, err = Consume(ctx, consumer, n)
	return err
}
