package objectstore_test

import (
	"context"
	"testing"
	"time"

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

// TestRetryRecognisedWhenLoadSawOnlyTheNewestBatch is the same restart
// with the producer's last batch among the objects a loading broker reads,
// but its earlier in-flight batches older than those. A retry of one of
// the earlier batches must still be recognised, not refused as out of
// order (which makes the producer renumber and resend it as new data).
func TestRetryRecognisedWhenLoadSawOnlyTheNewestBatch(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "partial", 1)
		other := int32(0)
		appendOthers := func(n int) {
			for range n {
				b := batchSpec{records: 1, producerID: 8, epoch: 0, sequence: other, timestamp: 1}
				other++
				if _, err := e.Append(ctx, topic, 0, b.encode()); err != nil {
					t.Fatal(err)
				}
			}
		}
		var batches [][]byte
		var firsts []objectstore.AppendResult
		for i := range 4 {
			b := batchSpec{records: 2, producerID: 7, epoch: 0, sequence: int32(2 * i), timestamp: 1}.encode()
			res, err := e.Append(ctx, topic, 0, b)
			if err != nil {
				t.Fatal(err)
			}
			batches, firsts = append(batches, b), append(firsts, res)
			if i < 3 {
				appendOthers(10) // so that only the last batch is among the newest objects
			}
		}
		appendOthers(2)

		restarted := newEngine(bucket)
		for i, b := range batches {
			retry, err := restarted.Append(ctx, topic, 0, b)
			if err != nil || !retry.Duplicate || retry.BaseOffset != firsts[i].BaseOffset {
				t.Fatalf("retry of batch %d on a fresh engine: %+v, %v; want duplicate at %d", i, retry, err, firsts[i].BaseOffset)
			}
		}
	})
}

// TestFirstBatchRetryRecognisedAfterRestart: a producer's very first batch
// on a partition (sequence 0) was written, its answer was lost, other
// producers wrote more objects than a loading broker reads, and the retry
// reaches a broker that has just loaded the partition. Within the retry
// horizon it is recognised; a batch older than the horizon is taken as a
// new producer's, as no client still retries it.
func TestFirstBatchRetryRecognisedAfterRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		horizon  time.Duration
		wantDup  bool
		wantRecs int
	}{
		{name: "within the horizon", horizon: time.Hour, wantDup: true, wantRecs: 12},
		{name: "beyond the horizon", horizon: time.Nanosecond, wantDup: false, wantRecs: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				e := newEngine(bucket)
				topic := mustTopic(t, e, "first", 1)
				first := batchSpec{records: 2, producerID: 7, epoch: 0, sequence: 0, timestamp: 1}.encode()
				res, err := e.Append(ctx, topic, 0, first)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 10 {
					other := batchSpec{records: 1, producerID: 8, epoch: 0, sequence: int32(i), timestamp: 1}
					if _, err := e.Append(ctx, topic, 0, other.encode()); err != nil {
						t.Fatal(err)
					}
				}

				restarted := objectstore.New(bucket, objectstore.Options{TailRefresh: time.Millisecond, ProducerRetryHorizon: tt.horizon})
				retry, err := restarted.Append(ctx, topic, 0, first)
				if err != nil {
					t.Fatal(err)
				}
				if retry.Duplicate != tt.wantDup || (tt.wantDup && retry.BaseOffset != res.BaseOffset) {
					t.Errorf("retry on a fresh engine: %+v; want duplicate %v (first at %d)", retry, tt.wantDup, res.BaseOffset)
				}
				if _, counts := readAll(t, restarted, topic, 0); sum(counts) != tt.wantRecs {
					t.Errorf("%d records stored, want %d", sum(counts), tt.wantRecs)
				}
			})
		})
	}
}

func sum(counts []int32) int {
	n := 0
	for _, c := range counts {
		n += int(c)
	}
	return n
}

// TestLookBackInStages: a new producer's first batch after a load reads
// only the skipped objects of the retry horizon (none here), and a later
// retry from another producer still reads the rest.
func TestLookBackInStages(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "stages", 1)
		if _, err := e.Append(ctx, topic, 0, batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 0, timestamp: 1}.encode()); err != nil {
			t.Fatal(err)
		}
		retried := batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 1, timestamp: 1}.encode()
		first, err := e.Append(ctx, topic, 0, retried)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, err := e.Append(ctx, topic, 0, batchSpec{records: 1, producerID: 8, epoch: 0, sequence: int32(i), timestamp: 1}.encode()); err != nil {
				t.Fatal(err)
			}
		}

		restarted := objectstore.New(bucket, objectstore.Options{TailRefresh: time.Millisecond, ProducerRetryHorizon: time.Nanosecond})
		if res, err := restarted.Append(ctx, topic, 0, batchSpec{records: 1, producerID: 9, epoch: 0, sequence: 0, timestamp: 1}.encode()); err != nil || res.Duplicate {
			t.Fatalf("new producer's first batch: %+v, %v", res, err)
		}
		retry, err := restarted.Append(ctx, topic, 0, retried)
		if err != nil || !retry.Duplicate || retry.BaseOffset != first.BaseOffset {
			t.Fatalf("retry after the first look-back: %+v, %v; want duplicate at %d", retry, err, first.BaseOffset)
		}
	})
}

// TestFirstBatchOfAProducerIssuedAfterLoadReadsNothingBack: a broker that
// loaded a partition and then handed a producer its id knows that no
// object it listed holds a batch of that producer: the producer's first
// batch is appended without reading the objects load skipped (a woken
// broker's first producer, most often). An id handed out by another broker
// still makes it look back.
func TestFirstBatchOfAProducerIssuedAfterLoadReadsNothingBack(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := newEngine(bucket)
		topic := mustTopic(t, writer, "issued", 1)
		for i := range 20 {
			spec := batchSpec{records: 1, producerID: 8, epoch: 0, sequence: int32(i), timestamp: 1}
			if _, err := writer.Append(ctx, topic, 0, spec.encode()); err != nil {
				t.Fatal(err)
			}
		}
		otherID, err := writer.NextProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}

		counted := objectstore.NewCountingBucket(bucket)
		woken := objectstore.New(counted, objectstore.Options{TailRefresh: time.Hour, ProducerRetryHorizon: time.Hour})
		if _, err := woken.Offsets(ctx, topic, 0); err != nil { // the load
			t.Fatal(err)
		}
		ownID, err := woken.NextProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name     string
			id       int64
			wantGets int64
		}{
			{"issued here after the load", ownID, 0},
			{"issued by another broker", otherID, 15}, // the 20 objects but the 5 load read
		} {
			before := counted.Counts().Of(objectstore.RequestGet)
			spec := batchSpec{records: 1, producerID: tt.id, epoch: 0, sequence: 0, timestamp: 1}
			if res, err := woken.Append(ctx, topic, 0, spec.encode()); err != nil || res.Duplicate {
				t.Fatalf("%s: first batch %+v, %v", tt.name, res, err)
			}
			if gets := counted.Counts().Of(objectstore.RequestGet) - before; gets != tt.wantGets {
				t.Errorf("%s: first batch made %d GETs, want %d", tt.name, gets, tt.wantGets)
			}
		}
	})
}
