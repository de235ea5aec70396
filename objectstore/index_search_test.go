package objectstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// A woken broker loads every object and ends at the log's end, for many
// lengths around page boundaries and any number of probes at once.
func TestLoadFindsEveryObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, n := range []int{1, 9, 10, 11, 19, 20, 21, 29, 30, 31, 55, 99, 100, 101, 157} {
		bucket := memory.New()
		_, topic, bases := longPartition(t, bucket, "every", n, objectstore.Options{})
		end := bases[n-1] + int64((n-1)%3+1)
		for _, probes := range []int{1, 2, 3, 4, 5, 8} {
			e := smallIndexEngine(bucket, objectstore.Options{})
			objectstore.SetSearchProbes(e, probes)
			offs, err := e.Offsets(ctx, topic, 0)
			if err != nil || offs.HighWatermark != end {
				t.Fatalf("n=%d probes=%d: offsets %+v, %v; want %d", n, probes, offs, err, end)
			}
			got, _ := readAll(t, e, topic, 0)
			if len(got) != n {
				t.Fatalf("n=%d probes=%d: read %d batches", n, probes, len(got))
			}
		}
	}
}

// offsetsWithin runs Offsets with a context that expires after 2s and
// reports whether it returned within 10s.
func offsetsWithin(e *objectstore.Engine, topic objectstore.Topic) (returned bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.Offsets(ctx, topic, 0)
		done <- err
	}()
	select {
	case err := <-done:
		return true, err
	case <-time.After(10 * time.Second):
		return false, nil
	}
}

// Keys under the partition's prefix in a "subfolder", whose last element
// is 20 digits, are not segments: the load ignores them (they sort after
// every segment, and taking them for segments stalled the search).
func TestLoadIgnoresSegmentLikeKeysInSubfolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	_, topic, _ := longPartition(t, bucket, "subfolder", 30, objectstore.Options{})
	for i := range 5 {
		if _, err := bucket.PutIfAbsent(ctx, fmt.Sprintf("data/%s/0/x/%020d", topic.ID, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	counted := objectstore.NewCountingBucket(bucket)
	e := smallIndexEngine(counted, objectstore.Options{})
	returned, err := offsetsWithin(e, topic)
	if !returned || err != nil {
		t.Fatalf("Offsets returned %v: %v; %d LISTs made", returned, err, counted.Counts().Of(objectstore.RequestList))
	}
	if got, _ := readAll(t, e, topic, 0); len(got) != 30 {
		t.Fatalf("read %d batches, want 30", len(got))
	}
}

// Keys of 20 digits beyond any offset a partition can reach are not
// segments either: the load ignores them, after a few LISTs.
func TestLoadIgnoresKeysBeyondAnyOffset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	writer := smallIndexEngine(bucket, objectstore.Options{})
	topic := mustTopic(t, writer, "huge", 1)
	const huge = int64(3_000_000_000_000_000_000) // > math.MaxInt64/4
	for i := range int64(25) {
		data := plainBatch(1).encode()
		binary.BigEndian.PutUint64(data[:8], uint64(huge+i))
		if _, err := bucket.PutIfAbsent(ctx, fmt.Sprintf("data/%s/0/%020d", topic.ID, huge+i), data); err != nil {
			t.Fatal(err)
		}
	}
	counted := objectstore.NewCountingBucket(bucket)
	e := smallIndexEngine(counted, objectstore.Options{})
	start := time.Now()
	returned, err := offsetsWithin(e, topic)
	lists := counted.Counts().Of(objectstore.RequestList)
	if !returned || err != nil || lists > 10 {
		t.Fatalf("Offsets returned %v after %v: %v; %d LISTs", returned, time.Since(start), err, lists)
	}
}

// growingBucket appends objects through writer around each LIST a loader
// makes, so the log grows between (and during) the search's probes.
type growingBucket struct {
	objectstore.Bucket
	grow func()
}

func (b *growingBucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	b.grow()
	objs, err := b.Bucket.List(ctx, prefix, startAfter, limit)
	b.grow()
	return objs, err
}

// A load while the log grows under its search ends at an object boundary
// and its index has no holes: every batch up to its high watermark reads.
func TestLoadWhileGrowing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, probes := range []int{1, 2, 4} {
		for _, n := range []int{15, 40, 120} {
			bucket := memory.New()
			writer, topic, _ := longPartition(t, bucket, "growing", n, objectstore.Options{})
			grown := 0
			var mu = make(chan struct{}, 1)
			gb := &growingBucket{Bucket: bucket, grow: func() {
				mu <- struct{}{}
				defer func() { <-mu }()
				if grown < 60 {
					grown++
					if _, err := writer.Append(ctx, topic, 0, plainBatch(2).encode()); err != nil {
						t.Error(err)
					}
				}
			}}
			e := smallIndexEngine(gb, objectstore.Options{})
			objectstore.SetSearchProbes(e, probes)
			offs, err := e.Offsets(ctx, topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Read(ctx, topic, 0, offs.HighWatermark-1, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, last := batchRange(t, res.Records); last != offs.HighWatermark-1 {
				t.Fatalf("probes=%d n=%d: read before %d ended at %d", probes, n, offs.HighWatermark, last)
			}
			gb.grow = func() {}
			if _, err := e.FreshOffsets(ctx, topic, 0); err != nil {
				t.Fatal(err)
			}
			got, _ := readAll(t, e, topic, 0)
			if len(got) != n+grown {
				t.Fatalf("probes=%d n=%d: read %d batches, want %d", probes, n, len(got), n+grown)
			}
		}
	}
}

// Six readers of different parts of the history share one engine (more
// than the four runs it remembers): each reads the right batches.
func TestManyReadersOfHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	_, topic, bases := longPartition(t, bucket, "many-readers", 300, objectstore.Options{})
	e := smallIndexEngine(bucket, objectstore.Options{})
	if _, err := e.Offsets(ctx, topic, 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	for r := range 6 {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := range 200 {
				i := (r*37 + k*(r+1)) % 250
				res, err := e.Read(ctx, topic, 0, bases[i], 1)
				if err != nil {
					t.Error(err)
					return
				}
				if first, _ := batchRange(t, res.Records); first != bases[i] {
					t.Errorf("read at %d began at %d", bases[i], first)
					return
				}
			}
		}()
	}
	for range 6 {
		<-done
	}
}
