package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// TestReadAheadOfOurTail is a consumer moving from one broker to another
// that has not yet seen the newest objects (it looks at most once per
// TailRefresh): an offset the client read or committed on the first broker
// must not be out of range on the second.
func TestReadAheadOfOurTail(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := newEngine(bucket)
		topic := mustTopic(t, writer, "ahead", 1)
		if _, err := writer.Append(ctx, topic, 0, plainBatch(2).encode()); err != nil {
			t.Fatal(err)
		}
		lagging := objectstore.New(bucket, objectstore.Options{TailRefresh: time.Hour})
		if _, err := lagging.Read(ctx, topic, 0, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := writer.Append(ctx, topic, 0, plainBatch(3).encode()); err != nil {
				t.Fatal(err)
			}
		}
		res, err := lagging.Read(ctx, topic, 0, 5, 1<<20)
		if err != nil || res.HighWatermark != 8 || len(res.Records) == 0 {
			t.Fatalf("read at 5 on a broker that last saw 2: %d bytes, high watermark %d, %v; want the batch at 5 and 8", len(res.Records), res.HighWatermark, err)
		}
	})
}
