package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// A reader at the end of a partition learns of another broker's appends by
// GET probes, never by listing.
func TestTailProbesWithoutListing(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := newEngine(bucket)
		topic := mustTopic(t, writer, "probe", 1)
		counted := objectstore.NewCountingBucket(bucket)
		reader := objectstore.New(counted, objectstore.Options{TailRefresh: time.Nanosecond})
		if _, err := reader.Read(ctx, topic, 0, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
		before := counted.Counts()
		for i := range 5 {
			if _, err := writer.Append(ctx, topic, 0, plainBatch(2).encode()); err != nil {
				t.Fatal(err)
			}
			res, err := reader.Read(ctx, topic, 0, int64(2*i), 1<<20)
			if err != nil || len(res.Records) == 0 || res.HighWatermark != int64(2*i+2) {
				t.Fatalf("read %d: %d bytes, high watermark %d, %v", i, len(res.Records), res.HighWatermark, err)
			}
		}
		after := counted.Counts()
		if lists := after.Of(objectstore.RequestList) - before.Of(objectstore.RequestList); lists != 0 {
			t.Errorf("following the tail made %d LIST requests", lists)
		}
		// One GET finds each object, one more finds nothing after it.
		if gets := after.Of(objectstore.RequestGet) - before.Of(objectstore.RequestGet); gets > 10 {
			t.Errorf("following 5 appends took %d GETs", gets)
		}
	})
}

// A broker whose view of the tail is old must not write at a key that
// retention deleted: that would put a second object over offsets that
// exist. It checks the bucket with a LIST first.
func TestStaleTailNeverRewritesDeletedOffsets(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		opts := objectstore.Options{TailTrust: 20 * time.Millisecond, RetentionSafety: 40 * time.Millisecond, TailRefresh: time.Hour}
		a, b := objectstore.New(bucket, opts), objectstore.New(bucket, opts)
		topic := mustTopic(t, a, "stale", 1)
		if _, err := b.Append(ctx, topic, 0, plainBatch(1).encode()); err != nil {
			t.Fatal(err)
		}
		// b's tail is now offset 1. a appends behind b's back.
		for range 5 {
			if _, err := a.Append(ctx, topic, 0, plainBatch(1).encode()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(60 * time.Millisecond) // past the safety window
		if _, err := a.DeleteRecords(ctx, topic, 0, 4); err != nil {
			t.Fatal(err)
		}
		// The object at offset 1, where b believes the tail is, is gone.
		if _, err := bucket.Get(ctx, "data/"+topic.ID+"/0/00000000000000000001"); err == nil {
			t.Fatal("retention kept the object at offset 1; the test needs it deleted")
		}
		res, err := b.Append(ctx, topic, 0, plainBatch(1).encode())
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != 6 {
			t.Fatalf("stale broker appended at offset %d, want 6", res.BaseOffset)
		}
	})
}

func TestRetention(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := objectstore.New(bucket, objectstore.Options{RetentionSafety: time.Nanosecond, SweepInterval: time.Nanosecond})
		defer e.Close()
		bytesTopic, err := e.CreateTopic(ctx, "by-bytes", 1, map[string]string{"retention.bytes": "1"})
		if err != nil {
			t.Fatal(err)
		}
		timeTopic, err := e.CreateTopic(ctx, "by-time", 1, map[string]string{"retention.ms": "1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range []objectstore.Topic{bytesTopic, timeTopic} {
			for range 4 {
				if _, err := e.Append(ctx, topic, 0, plainBatch(5).encode()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		e.Close() // wait for the sweeps the appends started
		for _, topic := range []objectstore.Topic{bytesTopic, timeTopic} {
			deadline := time.Now().Add(5 * time.Second)
			for {
				offs, err := e.Offsets(ctx, topic, 0)
				if err != nil {
					t.Fatal(err)
				}
				objs, err := objectstore.ListAll(ctx, bucket, "data/"+topic.ID+"/", "")
				if err != nil {
					t.Fatal(err)
				}
				// Everything but the newest object goes.
				if offs.LogStart == 15 && offs.HighWatermark == 20 && len(objs) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: offsets %+v with %d objects, want log start 15 and one object", topic.Name, offs, len(objs))
				}
				// Reads trigger sweeps too.
				_, _ = e.Read(ctx, topic, 0, offs.LogStart, 1)
				time.Sleep(10 * time.Millisecond)
				e.Close()
			}
		}
	})
}

// FreshOffsets sees another broker's appends and DeleteRecords at once,
// whatever TailRefresh says.
func TestFreshOffsetsSeeOtherBrokers(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		opts := objectstore.Options{TailRefresh: time.Hour}
		a, b := objectstore.New(bucket, opts), objectstore.New(bucket, opts)
		topic := mustTopic(t, a, "fresh", 1)
		if _, err := b.Offsets(ctx, topic, 0); err != nil { // b loads the empty partition
			t.Fatal(err)
		}
		for range 3 {
			if _, err := a.Append(ctx, topic, 0, plainBatch(2).encode()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.DeleteRecords(ctx, topic, 0, 2); err != nil {
			t.Fatal(err)
		}
		offs, err := b.FreshOffsets(ctx, topic, 0)
		if err != nil || offs.HighWatermark != 6 || offs.LogStart != 2 {
			t.Fatalf("FreshOffsets = %+v, %v; want log start 2, high watermark 6", offs, err)
		}
	})
}
