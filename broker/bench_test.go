package broker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/internal/bench"
)

// The benchmarks measure siesta (in process, memory bucket) beside kfake
// with the same franz-go client settings, 1 KiB records; scripts/bench
// prints the same comparison as a table with latencies.

// benchPartitions are the partition counts every benchmark runs with.
var benchPartitions = []int32{1, 16}

// benchWarmup is how many records warm connections and buffers before timing.
const benchWarmup = 5_000

// BenchmarkProduce produces b.N records, round robin over the partitions,
// and waits for every acknowledgement.
func BenchmarkProduce(b *testing.B) {
	for _, target := range bench.Targets {
		for _, partitions := range benchPartitions {
			b.Run(fmt.Sprintf("%s/partitions=%d", target, partitions), func(b *testing.B) {
				ctx := context.Background()
				addr := startTarget(b, target, partitions)
				producer := newProducer(b, addr)
				if err := bench.Warm(ctx, addr, producer, partitions, benchWarmup); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(bench.RecordSize)
				b.ResetTimer()
				res, err := bench.Produce(ctx, producer, bench.TopicThroughput, partitions, b.N)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.RecordsPerSec(), "records/s")
			})
		}
	}
}

// BenchmarkConsume produces b.N records untimed, then times reading them
// all back from the start without a group.
func BenchmarkConsume(b *testing.B) {
	for _, target := range bench.Targets {
		for _, partitions := range benchPartitions {
			b.Run(fmt.Sprintf("%s/partitions=%d", target, partitions), func(b *testing.B) {
				ctx := context.Background()
				addr := startTarget(b, target, partitions)
				producer := newProducer(b, addr)
				if err := bench.Warm(ctx, addr, producer, partitions, benchWarmup); err != nil {
					b.Fatal(err)
				}
				if _, err := bench.Produce(ctx, producer, bench.TopicThroughput, partitions, b.N); err != nil {
					b.Fatal(err)
				}
				consumer, err := bench.NewConsumer(addr, bench.TopicThroughput, partitions)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(consumer.Close)
				b.SetBytes(bench.RecordSize)
				b.ResetTimer()
				res, err := bench.Consume(ctx, consumer, b.N)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.RecordsPerSec(), "records/s")
			})
		}
	}
}

// startTarget starts a target with the benchmark topics and stops it when
// the benchmark ends.
func startTarget(b *testing.B, target string, partitions int32) string {
	b.Helper()
	t, err := bench.Start(context.Background(), target, partitions, bench.TopicThroughput, bench.TopicLatency, bench.TopicWarmup)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(t.Close)
	return t.Addr
}

// newProducer returns the benchmark producer, closed when the benchmark
// ends.
func newProducer(b *testing.B, addr string) *kgo.Client {
	b.Helper()
	cl, err := bench.NewProducer(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}
