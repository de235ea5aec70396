package objectstore_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

var timedObjects = flag.Int("timed", 5_000, "objects in the partition BenchmarkOffsetForTime looks up")

// BenchmarkOffsetForTime measures ListOffsets by timestamp on a woken
// broker: a new engine loads a partition of N one-record objects (record i
// at time 1000*i), then finds the offset of a time nine tenths into it,
// and the partition's latest timestamp (MAX_TIMESTAMP). It reports each
// lookup's time and the GETs and LISTs it makes.
//
//	go test -run '^$' -bench OffsetForTime ./objectstore/ -args -timed 5000
func BenchmarkOffsetForTime(b *testing.B) {
	for name, mk := range benchBuckets(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			n := int64(*timedObjects)
			bucket, topic := writeHistory(b, mk(b), int(n))
			target := n * 9 / 10
			var byTime, maxTime time.Duration
			var byTimeCounts, maxCounts objectstore.RequestCounts
			b.ResetTimer()
			for b.Loop() {
				counted := objectstore.NewCountingBucket(bucket)
				woken := objectstore.New(counted, objectstore.Options{})
				if _, err := woken.Offsets(ctx, topic, 0); err != nil {
					b.Fatal(err)
				}
				loaded := counted.Counts()
				start := time.Now()
				if off, _, err := woken.OffsetForTime(ctx, topic, 0, 1000*target); err != nil || off != target {
					b.Fatalf("OffsetForTime = %d, %v; want %d", off, err, target)
				}
				byTime += time.Since(start)
				looked := counted.Counts()
				start = time.Now()
				if off, _, err := woken.MaxTimestamp(ctx, topic, 0); err != nil || off != n-1 {
					b.Fatalf("MaxTimestamp = %d, %v; want %d", off, err, n-1)
				}
				maxTime += time.Since(start)
				all := counted.Counts()
				for k := range all.Requests {
					byTimeCounts.Requests[k] += looked.Requests[k] - loaded.Requests[k]
					maxCounts.Requests[k] += all.Requests[k] - looked.Requests[k]
				}
				woken.Close()
			}
			per := float64(b.N)
			b.ReportMetric(float64(byTime.Microseconds())/per/1000, "bytime-ms")
			b.ReportMetric(float64(byTimeCounts.Of(objectstore.RequestGet))/per, "bytime-GETs")
			b.ReportMetric(float64(byTimeCounts.Of(objectstore.RequestList))/per, "bytime-LISTs")
			b.ReportMetric(float64(maxTime.Microseconds())/per/1000, "max-ms")
			b.ReportMetric(float64(maxCounts.Of(objectstore.RequestGet))/per, "max-GETs")
			b.ReportMetric(float64(maxCounts.Of(objectstore.RequestList))/per, "max-LISTs")
		})
	}
}
