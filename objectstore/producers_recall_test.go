package objectstore_test

import (
	"context"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// TestRetryRecognisedAfterOtherProducersWrote is the broker-restart case
// of the idempotent-producer check: producer 7's batch is written, other
// producers then write more objects than a loading broker reads for
// producer state, and producer 7 retries the batch (its answer was lost)
// on a broker that has just loaded the partition. The retry must be
// answered with the batch's offset, not appended a second time.
func TestRetryRecognisedAfterOtherProducersWrote(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "recall", 1)
		if _, err := e.Append(ctx, topic, 0, batchSpec{records: 2, producerID: 7, epoch: 0, sequence: 0, timestamp: 1}.encode()); err != nil {
			t.Fatal(err)
		}
		batch := batchSpec{records: 2, producerID: 7, epoch: 0, sequence: 2, timestamp: 1}.encode()
		first, err := e.Append(ctx, topic, 0, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			other := batchSpec{records: 1, producerID: 8 + int64(i%3), epoch: 0, sequence: int32(i / 3), timestamp: 1}
			if _, err := e.Append(ctx, topic, 0, other.encode()); err != nil {
				t.Fatal(err)
			}
		}

		restarted := newEngine(bucket)
		retry, err := restarted.Append(ctx, topic, 0, batch)
		if err != nil || !retry.Duplicate || retry.BaseOffset != first.BaseOffset {
			t.Fatalf("retry on a fresh engine: %+v, %v; want duplicate at %d", retry, err, first.BaseOffset)
		}
		next, err := restarted.Append(ctx, topic, 0, batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 4, timestamp: 1}.encode())
		if err != nil || next.Duplicate {
			t.Fatalf("next batch: %+v, %v", next, err)
		}
		if bases, _ := readAll(t, restarted, topic, 0); len(bases) != 23 {
			t.Errorf("%d batches stored, want 23: %v", len(bases), bases)
		}
	})
}
