package objectstore_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

var historyObjects = flag.Int("history", 20_000, "objects in the partition BenchmarkWakeLongHistory wakes on")

// BenchmarkWakeLongHistory measures what a woken broker's first request on
// a partition with a long history waits for: loading the partition (its
// end and producer state), then a fetch of one batch at the start of the
// log. It reports the LISTs and GETs each makes.
//
//	go test -run '^$' -bench WakeLongHistory -history 20000 ./objectstore/
func BenchmarkWakeLongHistory(b *testing.B) {
	for name, mk := range bucketMakers(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			bucket := mk(b)
			writer := objectstore.New(bucket, objectstore.Options{})
			topic, err := writer.CreateTopic(ctx, "history", 1, nil)
			if err != nil {
				b.Fatal(err)
			}
			batch := plainBatch(1).encode()
			for range *historyObjects {
				if _, err := writer.Append(ctx, topic, 0, batch); err != nil {
					b.Fatal(err)
				}
			}
			var load, fetch time.Duration
			var loadCounts, fetchCounts objectstore.RequestCounts
			b.ResetTimer()
			for b.Loop() {
				counted := objectstore.NewCountingBucket(bucket)
				woken := objectstore.New(counted, objectstore.Options{})
				start := time.Now()
				offs, err := woken.Offsets(ctx, topic, 0)
				if err != nil || offs.HighWatermark != int64(*historyObjects) {
					b.Fatalf("offsets %+v, %v", offs, err)
				}
				load += time.Since(start)
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
			b.ReportMetric(float64(loadCounts.Of(objectstore.RequestGet))/n, "load-GETs")
			b.ReportMetric(float64(fetch.Microseconds())/n/1000, "fetch0-ms")
			b.ReportMetric(float64(fetchCounts.Of(objectstore.RequestList))/n, "fetch0-LISTs")
		})
	}
}
