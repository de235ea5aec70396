package objectstore_test

import (
	"context"
	"flag"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/s3"
)

var (
	historyObjects = flag.Int("history", 20_000, "objects in the partition BenchmarkWakeLongHistory wakes on")
	searchProbes   = flag.Int("search-probes", 0, "LISTs a woken broker's load sends at once in BenchmarkWakeLongHistory (0: the engine's default)")
)

// BenchmarkWakeLongHistory measures what a woken broker's first request on
// a partition with a long history waits for: loading the partition (its
// end and producer state), then a fetch of one batch at the start of the
// log. It reports the LISTs and GETs each makes, and for the load the
// rounds of LISTs (see listRounds).
//
//	go test -run '^$' -bench WakeLongHistory ./objectstore/ -args -history 20000
func BenchmarkWakeLongHistory(b *testing.B) {
	for name, mk := range benchBuckets(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			wakeBucket, topic := writeHistory(b, mk(b), *historyObjects)
			var load, fetch time.Duration
			var loadRounds int64
			var loadCounts, fetchCounts objectstore.RequestCounts
			b.ResetTimer()
			for b.Loop() {
				rounds := &listRounds{Bucket: wakeBucket}
				counted := objectstore.NewCountingBucket(rounds)
				woken := objectstore.New(counted, objectstore.Options{})
				if *searchProbes > 0 {
					objectstore.SetSearchProbes(woken, *searchProbes)
				}
				start := time.Now()
				offs, err := woken.Offsets(ctx, topic, 0)
				if err != nil || offs.HighWatermark != int64(*historyObjects) {
					b.Fatalf("offsets %+v, %v", offs, err)
				}
				load += time.Since(start)
				loadRounds += rounds.rounds.Load()
				loaded := counted.Counts()
				start = time.Now()
				if res, err := woken.Read(ctx, topic, 0, 0, 1); err != nil || len(res.Records) == 0 {
					b.Fatalf("read at 0: %d bytes, %v", len(res.Records), err)
				}
				fetch += time.Since(start)
				all := counted.Counts()
				for k := range loaded.Requests {
					loadCounts.Requests[k] += loaded.Requests[k]
					fetchCounts.Requests[k] += all.Requests[k] - loaded.Requests[k]
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(load.Microseconds())/n/1000, "load-ms")
			b.ReportMetric(float64(loadCounts.Of(objectstore.RequestList))/n, "load-LISTs")
			b.ReportMetric(float64(loadRounds)/n, "load-LIST-rounds")
			b.ReportMetric(float64(loadCounts.Of(objectstore.RequestGet))/n, "load-GETs")
			b.ReportMetric(float64(fetch.Microseconds())/n/1000, "fetch0-ms")
			b.ReportMetric(float64(fetchCounts.Of(objectstore.RequestList))/n, "fetch0-LISTs")
		})
	}
}

// slowBucket is a bucket on MinIO reached through a proxy that delays every
// request, with direct, the same bucket without the delay.
type slowBucket struct {
	objectstore.Bucket
	direct objectstore.Bucket
}

func slowS3(tb testing.TB, delay time.Duration) slowBucket {
	srv := miniotest.Start(tb)
	name := srv.NewBucket(tb)
	proxy, err := miniotest.DelayingProxy(srv.Endpoint, delay)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(proxy.Close)
	open := func(endpoint string) objectstore.Bucket {
		b, err := s3.Open(tb.Context(), s3.Options{
			Bucket:          name,
			Prefix:          "siesta/",
			Endpoint:        endpoint,
			Region:          srv.Region,
			PathStyle:       true,
			AccessKeyID:     srv.AccessKey,
			SecretAccessKey: srv.SecretKey,
		})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { b.Close() })
		return b
	}
	return slowBucket{Bucket: open(proxy.URL), direct: open(srv.Endpoint)}
}

// listRounds counts the rounds of LISTs made through it: the LISTs that
// start while no other is in flight. On a store where a LIST's time is its
// round trip, a load takes about that many round trips.
type listRounds struct {
	objectstore.Bucket
	inFlight, rounds atomic.Int64
}

func (b *listRounds) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if b.inFlight.Add(1) == 1 {
		b.rounds.Add(1)
	}
	defer b.inFlight.Add(-1)
	return b.Bucket.List(ctx, prefix, startAfter, limit)
}

var catchUpObjects = flag.Int("catchup", 2_000, "objects BenchmarkCatchUp reads")

// BenchmarkCatchUp measures a consumer that wakes with a broker and reads
// a partition's history: a new engine reads N objects of one small batch
// each from offset 0 to the end, in fetches of up to 1 MiB (a Kafka
// consumer's default per partition). It reports the time per object.
//
//	go test -run '^$' -bench CatchUp ./objectstore/ -args -catchup 2000
func BenchmarkCatchUp(b *testing.B) {
	for name, mk := range benchBuckets(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			readBucket, topic := writeHistory(b, mk(b), *catchUpObjects)
			var read time.Duration
			b.ResetTimer()
			for b.Loop() {
				e := objectstore.New(readBucket, objectstore.Options{})
				start := time.Now()
				var offset int64
				for offset < int64(*catchUpObjects) {
					res, err := e.Read(ctx, topic, 0, offset, 1<<20)
					if err != nil || len(res.Records) == 0 {
						b.Fatalf("read at %d: %d bytes, %v", offset, len(res.Records), err)
					}
					_, last := batchRange(b, res.Records)
					offset = last + 1
				}
				read += time.Since(start)
			}
			b.ReportMetric(float64(read.Microseconds())/float64(b.N)/float64(*catchUpObjects), "µs/object")
		})
	}
}

// benchBuckets are the buckets the history benchmarks run on: every
// backend, and MinIO behind a proxy that holds the woken broker's requests
// 20 ms each, as a store in another building would.
func benchBuckets(b *testing.B) map[string]func(testing.TB) objectstore.Bucket {
	makers := bucketMakers(b)
	if miniotest.Enabled() {
		makers["s3+20ms"] = func(tb testing.TB) objectstore.Bucket {
			return slowS3(tb, 20*time.Millisecond)
		}
	}
	return makers
}

// writeHistory appends n objects of one one-record batch each to a new
// topic of one partition, straight to the bucket, and returns the bucket a
// woken broker reads through (behind the proxy for s3+20ms) and the topic.
// Record i has timestamp 1000*i.
func writeHistory(b *testing.B, bucket objectstore.Bucket, n int) (objectstore.Bucket, objectstore.Topic) {
	b.Helper()
	ctx := context.Background()
	woken := bucket
	if slow, ok := bucket.(slowBucket); ok {
		bucket, woken = slow.direct, slow.Bucket
	}
	writer := objectstore.New(bucket, objectstore.Options{})
	topic, err := writer.CreateTopic(ctx, "history", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		spec := plainBatch(1)
		spec.timestamp = 1000 * int64(i)
		if _, err := writer.Append(ctx, topic, 0, spec.encode()); err != nil {
			b.Fatal(err)
		}
	}
	if err := writer.Drain(ctx); err != nil {
		b.Fatal(err)
	}
	writer.Close()
	return woken, topic
}

var fetchPartitions = flag.Int("partitions", 16, "partitions BenchmarkWakeFetch's consumer reads")

// BenchmarkWakeFetch measures a consumer of many partitions, at their end,
// on a woken broker: a new engine answers its first fetch (every partition
// loaded) and then a fetch once the tails are due to be compared with the
// bucket again (a GET per partition). "one after another" reads the
// partitions in turn as a fetch did before PrepareReads; "prepared" calls
// it first, as the broker's fetch does.
//
//	go test -run '^$' -bench WakeFetch ./objectstore/ -args -partitions 16
func BenchmarkWakeFetch(b *testing.B) {
	for name, mk := range benchBuckets(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			bucket := mk(b)
			direct := bucket
			if slow, ok := bucket.(slowBucket); ok {
				direct = slow.direct
			}
			writer := objectstore.New(direct, objectstore.Options{})
			topic, err := writer.CreateTopic(ctx, "fetch", int32(*fetchPartitions), nil)
			if err != nil {
				b.Fatal(err)
			}
			for p := range topic.Partitions {
				if _, err := writer.Append(ctx, topic, p, plainBatch(1).encode()); err != nil {
					b.Fatal(err)
				}
			}
			writer.Close()
			reads := make([]objectstore.PartitionRead, topic.Partitions)
			for p := range reads {
				reads[p] = objectstore.PartitionRead{Topic: topic, Partition: int32(p), Offset: 1}
			}
			for _, prepared := range []bool{false, true} {
				mode := "one after another"
				if prepared {
					mode = "prepared"
				}
				b.Run(mode, func(b *testing.B) {
					fetch := func(e *objectstore.Engine) time.Duration {
						start := time.Now()
						if prepared {
							e.PrepareReads(ctx, reads)
						}
						for _, r := range reads {
							if _, err := e.Read(ctx, r.Topic, r.Partition, r.Offset, 1<<20); err != nil {
								b.Fatal(err)
							}
						}
						return time.Since(start)
					}
					// Longer than a fetch takes here, as the default 1 s is.
					const refresh = 200 * time.Millisecond
					var first, again time.Duration
					for b.Loop() {
						woken := objectstore.New(bucket, objectstore.Options{TailRefresh: refresh})
						first += fetch(woken)
						time.Sleep(refresh)
						again += fetch(woken)
					}
					b.ReportMetric(float64(first.Microseconds())/float64(b.N)/1000, "first-fetch-ms")
					b.ReportMetric(float64(again.Microseconds())/float64(b.N)/1000, "refresh-fetch-ms")
				})
			}
		})
	}
}
