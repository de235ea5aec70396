package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// Warm loads a topic's partitions in the background, so that the reads
// and appends that follow find them loaded; at most 64 per call.
func TestWarmLoadsPartitions(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := newEngine(bucket)
		topic := mustTopic(t, writer, "warm", 70)
		for p := range int32(3) {
			if _, err := writer.Append(ctx, topic, p, plainBatch(2).encode()); err != nil {
				t.Fatal(err)
			}
		}
		counted := objectstore.NewCountingBucket(bucket)
		woken := objectstore.New(counted, objectstore.Options{TailRefresh: time.Hour})
		woken.Warm([]objectstore.Topic{topic})
		woken.Close() // waits for the loads
		warmed := counted.Counts()
		if lists := warmed.Of(objectstore.RequestList); lists != 64 {
			t.Errorf("Warm listed %d partitions, want 64", lists)
		}
		for p := range int32(3) {
			res, err := woken.Read(ctx, topic, p, 0, 1<<20)
			if err != nil || res.HighWatermark != 2 || len(res.Records) == 0 {
				t.Fatalf("read partition %d: %+v, %d bytes, %v", p, res.PartitionOffsets, len(res.Records), err)
			}
		}
		if after := counted.Counts(); after != warmed {
			t.Errorf("reads of warmed partitions made requests: %+v, then %+v", warmed, after)
		}
		// The rest load on the next call, each once: the partitions
		// loaded or loading are left alone.
		woken.Warm([]objectstore.Topic{topic})
		woken.Warm([]objectstore.Topic{topic})
		woken.Close()
		if lists := counted.Counts().Of(objectstore.RequestList); lists != 70 {
			t.Errorf("two Warms listed %d partitions, want 70", lists)
		}
	})
}

// With the producer-id document read ahead, claiming a block is one
// write; a document another broker changed meanwhile costs a second try,
// never an id handed out twice.
func TestWarmProducerIDs(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		counted := objectstore.NewCountingBucket(bucket)
		a := objectstore.New(counted, objectstore.Options{})
		b := newEngine(bucket)
		seen := make(map[int64]string)
		claim := func(name string, e *objectstore.Engine) int64 {
			t.Helper()
			id, err := e.NextProducerID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if other, dup := seen[id]; dup {
				t.Fatalf("producer id %d handed out by %s and %s", id, other, name)
			}
			seen[id] = name
			return id
		}
		a.WarmProducerIDs()
		a.Close()
		warmed := counted.Counts()
		claim("a", a)
		if after := counted.Counts(); after.Of(objectstore.RequestGet) != warmed.Of(objectstore.RequestGet) || after.Of(objectstore.RequestPut) != warmed.Of(objectstore.RequestPut)+1 {
			t.Errorf("claim after warming: %+v, then %+v; want one PUT", warmed, after)
		}
		// a has ids left: nothing to read ahead.
		a.WarmProducerIDs()
		a.Close()
		if after := counted.Counts(); after.Of(objectstore.RequestGet) != warmed.Of(objectstore.RequestGet) {
			t.Errorf("WarmProducerIDs read with ids left")
		}
		for range 99 {
			claim("a", a)
		}
		// a's block is used up; it reads ahead, b claims meanwhile.
		a.WarmProducerIDs()
		a.Close()
		claim("b", b)
		claim("a", a)
	})
}
