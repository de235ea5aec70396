package objectstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// stuckList is a bucket whose LISTs of data keys wait until released: a
// partition load held up by a failing store.
type stuckList struct {
	objectstore.Bucket
	release chan struct{}
}

func (b *stuckList) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if strings.HasPrefix(prefix, "data/") {
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Bucket.List(ctx, prefix, startAfter, limit)
}

// A request that needs a partition whose load is held up gives up when its
// context ends, instead of waiting for the load; the load goes on, and
// the append that started it completes once the store answers.
func TestRequestWaitingForAPartitionLoadHonoursItsContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := &stuckList{Bucket: memory.New(), release: make(chan struct{})}
	e := objectstore.New(bucket, objectstore.Options{})
	topic := mustTopic(t, e, "stuck", 1)
	appended := make(chan error, 1)
	go func() {
		_, err := e.Append(ctx, topic, 0, plainBatch(1).encode())
		appended <- err
	}()
	time.Sleep(20 * time.Millisecond) // the append's load is waiting on its LIST

	for name, request := range map[string]func(context.Context) error{
		"Offsets":      func(ctx context.Context) error { _, err := e.Offsets(ctx, topic, 0); return err },
		"FreshOffsets": func(ctx context.Context) error { _, err := e.FreshOffsets(ctx, topic, 0); return err },
		"Read":         func(ctx context.Context) error { _, err := e.Read(ctx, topic, 0, 0, 1<<20); return err },
	} {
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := request(rctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while the load is held up: %v, want the request's deadline", name, err)
		}
	}
	close(bucket.release)
	if err := <-appended; err != nil {
		t.Fatalf("append after the store answered: %v", err)
	}
	if offs, err := e.Offsets(ctx, topic, 0); err != nil || offs.HighWatermark != 1 {
		t.Fatalf("offsets %+v, %v", offs, err)
	}
}
