package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// PrepareReads does the bucket requests a fetch's Reads would make before
// reading (loading, refreshing the tail), so that the Reads make none.
func TestPrepareReadsLeavesReadsNothingToAsk(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := newEngine(bucket)
		topic := mustTopic(t, writer, "prepared", 8)
		for p := range topic.Partitions {
			if _, err := writer.Append(ctx, topic, p, plainBatch(2).encode()); err != nil {
				t.Fatal(err)
			}
		}
		counted := objectstore.NewCountingBucket(bucket)
		woken := objectstore.New(counted, objectstore.Options{TailRefresh: time.Hour})
		reads := []objectstore.PartitionRead{{Topic: topic, Partition: 99, Offset: 0}} // refused later by Read
		for p := range topic.Partitions {
			reads = append(reads, objectstore.PartitionRead{Topic: topic, Partition: p, Offset: 2})
		}
		woken.PrepareReads(ctx, reads)
		prepared := counted.Counts()
		if prepared.Of(objectstore.RequestList) < int64(topic.Partitions) {
			t.Fatalf("PrepareReads listed %d times for %d partitions", prepared.Of(objectstore.RequestList), topic.Partitions)
		}
		for _, r := range reads[1:] {
			res, err := woken.Read(ctx, r.Topic, r.Partition, r.Offset, 1<<20)
			if err != nil || res.HighWatermark != 2 || len(res.Records) != 0 {
				t.Fatalf("read partition %d at its end: %+v, %v", r.Partition, res.PartitionOffsets, err)
			}
		}
		if after := counted.Counts(); after != prepared {
			t.Errorf("reads after PrepareReads made requests: %+v, then %+v", prepared, after)
		}
		// Nothing left to prepare: no request.
		woken.PrepareReads(ctx, reads)
		if after := counted.Counts(); after != prepared {
			t.Errorf("a second PrepareReads made requests: %+v, then %+v", prepared, after)
		}
	})
}
