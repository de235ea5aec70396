package objectstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// lostAnswerBucket applies the next PutIfAbsent but reports it failed, as
// when a storage service's answer is lost on the way back.
type lostAnswerBucket struct {
	objectstore.Bucket
	loseNext atomic.Bool
}

var errAnswerLost = errors.New("connection reset (the write was applied)")

func (b *lostAnswerBucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := b.Bucket.PutIfAbsent(ctx, key, data)
	if err == nil && b.loseNext.CompareAndSwap(true, false) {
		return "", errAnswerLost
	}
	return etag, err
}

// A batch whose write landed but whose answer was lost must not turn the
// producer's next batch into OUT_OF_ORDER_SEQUENCE_NUMBER (which makes the
// producer bump its epoch and resend the first batch as new data), and its
// retry must be recognised as a duplicate.
func TestLostAnswerDoesNotBreakSequences(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		lossy := &lostAnswerBucket{Bucket: bucket}
		e := objectstore.New(lossy, objectstore.Options{})
		topic := mustTopic(t, e, "lost", 1)
		first := batchSpec{records: 2, producerID: 3, epoch: 0, sequence: 0, timestamp: 1}.encode()
		if _, err := e.Append(ctx, topic, 0, first); err != nil {
			t.Fatal(err)
		}
		lost := batchSpec{records: 2, producerID: 3, epoch: 0, sequence: 2, timestamp: 1}.encode()
		lossy.loseNext.Store(true)
		if _, err := e.Append(ctx, topic, 0, lost); !errors.Is(err, errAnswerLost) {
			t.Fatalf("append with a lost answer: %v", err)
		}
		// The producer's pipelined next batch arrives before its retry.
		next := batchSpec{records: 1, producerID: 3, epoch: 0, sequence: 4, timestamp: 1}.encode()
		res, err := e.Append(ctx, topic, 0, next)
		if err != nil {
			t.Fatalf("next batch after a lost answer: %v", err)
		}
		if res.BaseOffset != 4 {
			t.Fatalf("next batch at offset %d, want 4", res.BaseOffset)
		}
		retry, err := e.Append(ctx, topic, 0, lost)
		if err != nil || !retry.Duplicate || retry.BaseOffset != 2 {
			t.Fatalf("retry of the lost batch: %+v, %v; want a duplicate at 2", retry, err)
		}
	})
}
