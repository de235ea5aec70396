package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordSize is the value size of every record produced: 1 KiB, no key.
const RecordSize = 1024

// value is the payload of every record. It is random so that it does not
// compress, and shared: franz-go never modifies a record's value.
var value = func() []byte {
	b := make([]byte, RecordSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}()

// NewProducer returns a client with the settings every produce measurement
// uses on every target: franz-go's defaults (acks=all, idempotent, 10ms
// linger, 1 MB batches, 5 requests in flight) except that records go to
// the partition the caller sets and batches are not compressed, so that the
// broker, not snappy, is what is measured. opts add to these.
func NewProducer(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, opts...)...)
}

// NewConsumer returns a client that reads every partition of topic from the
// start, without a group, with franz-go's default fetch settings.
func NewConsumer(addr, topic string, partitions int32) (*kgo.Client, error) {
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range partitions {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	return kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
	)
}

// Throughput is what moving a number of records took.
type Throughput struct {
	Records int
	Bytes   int64 // record value bytes
	Elapsed time.Duration
}

// RecordsPerSec is the record rate.
func (t Throughput) RecordsPerSec() float64 { return float64(t.Records) / t.Elapsed.Seconds() }

// MBPerSec is the rate of record value bytes, in MB (10^6 bytes) per
// second as `go test -bench` reports it.
func (t Throughput) MBPerSec() float64 { return float64(t.Bytes) / 1e6 / t.Elapsed.Seconds() }

// Produce sends n records to topic, record i to partition i mod partitions,
// as fast as the client accepts them, and returns once every one is
// acknowledged.
func Produce(ctx context.Context, cl *kgo.Client, topic string, partitions int32, n int) (Throughput, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	start := time.Now()
	wg.Add(n)
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: value}
		cl.Produce(ctx, r, promise)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Throughput{}, fmt.Errorf("produce: %w", firstErr)
	}
	return Throughput{Records: n, Bytes: int64(n) * RecordSize, Elapsed: elapsed}, nil
}

// Consume polls cl until it has n records and returns how long that took.
func Consume(ctx context.Context, cl *kgo.Client, n int) (Throughput, error) {
	start := time.Now()
	got := 0
	var bytes int64
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Throughput{}, fmt.Errorf("consume: %d of %d records: %w", got, n, err)
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) {
			fetchErr = errors.Join(fetchErr, fmt.Errorf("%s/%d: %w", topic, p, err))
		})
		if fetchErr != nil {
			return Throughput{}, fmt.Errorf("consume: %w", fetchErr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	return Throughput{Records: got, Bytes: bytes, Elapsed: time.Since(start)}, nil
}

// Latencies are produce round trips, sorted ascending.
type Latencies []time.Duration

// ProduceLatencies produces n single records one after another with
// ProduceSync, which sends at once instead of lingering, and returns each
// one's time from the call to its acknowledgement. One record is in flight
// at a time, so the broker is never saturated. Record i goes to partition
// i mod partitions.
func ProduceLatencies(ctx context.Context, cl *kgo.Client, topic string, partitions int32, n int) (Latencies, error) {
	lat := make(Latencies, 0, n)
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: value}
		start := time.Now()
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return nil, fmt.Errorf("produce: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat, nil
}

// Percentile returns the q-quantile (0 < q <= 1) by the nearest-rank
// method.
func (l Latencies) Percentile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(l))))
	return l[min(max(rank, 1), len(l))-1]
}
