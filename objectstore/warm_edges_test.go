package objectstore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// flakyProducerDoc fails the first read of the producer-id document, as a
// storage service does now and then (a 503, a reset connection).
type flakyProducerDoc struct {
	objectstore.Bucket
	failed atomic.Bool
}

var errTransient = errors.New("503 slow down")

func (b *flakyProducerDoc) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if strings.HasSuffix(key, "producers/next") && b.failed.CompareAndSwap(false, true) {
		return objectstore.Object{}, errTransient
	}
	return b.Bucket.Get(ctx, key)
}

// A read-ahead of the producer-id document that failed must not fail the
// claim that finds it: before WarmProducerIDs, NextProducerID read the
// document itself (with its own context) and succeeded against a healthy
// bucket. The read-ahead is only an optimisation; its error belongs to
// nobody.
func TestFailedProducerIDReadAheadDoesNotFailTheClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := &flakyProducerDoc{Bucket: memory.New()}
	e := objectstore.New(bucket, objectstore.Options{})
	e.WarmProducerIDs() // a Metadata request
	e.Close()           // the read-ahead is done (and failed)
	if _, err := e.NextProducerID(ctx); err != nil {
		t.Fatalf("InitProducerID after a failed read-ahead, against a healthy bucket: %v", err)
	}
}

// The producer ids a broker remembers handing out (for its look-backs) are
// bounded: a broker serving short-lived producers, one per request, does
// not grow without end, nor scan them all at each hand-out.
func TestRememberedProducerIDsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := objectstore.New(memory.New(), objectstore.Options{})
	for range 20_000 {
		if _, err := e.NextProducerID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := objectstore.GivenIDs(e); n > 1<<14 {
		t.Errorf("the engine remembers %d producer ids handed out", n)
	}
}
