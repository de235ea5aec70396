package objectstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// A broker whose log start is stale (another broker ran DeleteRecords and
// deleted the objects below it) answers OffsetForTime and MaxTimestamp from
// a scan that starts at its stale log start, below its index: finding the
// objects there gone, it rereads the log start and scans on from it.
func TestScanSkipsObjectsDeletedBelowIndex(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer, topic, bases := longPartition(t, bucket, "stale-start", 120, objectstore.Options{RetentionSafety: time.Nanosecond})

		// The reader loads while the log start is still 0.
		reader := smallIndexEngine(bucket, objectstore.Options{})
		if _, err := reader.Offsets(ctx, topic, 0); err != nil {
			t.Fatal(err)
		}
		// Another broker deletes records below the 60th batch, and (its
		// safety window being tiny) the objects below it.
		if _, err := writer.DeleteRecords(ctx, topic, 0, bases[60]); err != nil {
			t.Fatal(err)
		}
		writer.Close()

		// Batch i has timestamp 1000*(i+1): batch 80 (below the
		// reader's index of ~10-20 objects) is the first at 81000.
		off, ts, err := reader.OffsetForTime(ctx, topic, 0, 81000)
		if err != nil || off != bases[80] || ts != 81000 {
			t.Errorf("OffsetForTime(81000) = %d, %d, %v; want %d, 81000", off, ts, err, bases[80])
		}
		off, ts, err = reader.MaxTimestamp(ctx, topic, 0)
		if err != nil || ts != 120002 {
			t.Errorf("MaxTimestamp = %d, %d, %v; want timestamp 120002 (offset %d)", off, ts, err, bases[119]+2)
		}
	})
}

// listHook is a bucket whose List runs a hook (once) before listing, and
// records the startAfter of each LIST.
type listHook struct {
	objectstore.Bucket
	once  sync.Once
	hook  func()
	limit int64 // > 0: fail List after this many calls

	mu     sync.Mutex
	afters []string
}

func (b *listHook) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	b.mu.Lock()
	b.afters = append(b.afters, startAfter)
	n := int64(len(b.afters))
	b.mu.Unlock()
	if b.limit > 0 && n > b.limit {
		return nil, fmt.Errorf("more than %d LISTs", b.limit)
	}
	if b.hook != nil {
		b.once.Do(b.hook)
	}
	return b.Bucket.List(ctx, prefix, startAfter, limit)
}

// A fetch looks objects up after taking the high watermark; an append
// that lands meanwhile may be returned, and then the high watermark in the
// same answer covers it.
func TestReadHighWatermarkCoversWhatItReturns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hb := &listHook{Bucket: memory.New()}
	e := objectstore.New(hb, objectstore.Options{TailRefresh: time.Hour})
	objectstore.SetIndexSizes(e, 100, 4) // the index keeps only the newest few objects
	topic := mustTopic(t, e, "beyond-hw", 1)
	for range 10 {
		if _, err := e.Append(ctx, topic, 0, plainBatch(1).encode()); err != nil {
			t.Fatal(err)
		}
	}
	hb.hook = func() {
		// Another produce lands while the fetch is locating offset 0.
		if _, err := e.Append(ctx, topic, 0, plainBatch(1).encode()); err != nil {
			t.Error(err)
		}
	}
	res, err := e.Read(ctx, topic, 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, last := batchRange(t, res.Records)
	if last >= res.HighWatermark {
		t.Errorf("read returned offsets up to %d with high watermark %d", last, res.HighWatermark)
	}
}

// Locating an offset below the index pages forward past keys under the
// partition's prefix that are not segments (a page of them here: the
// listing page is 10 keys), instead of listing the same page again.
func TestLocatePagesPastStrayKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hb := &listHook{Bucket: memory.New(), limit: 500}
	_, topic, bases := longPartition(t, hb, "strays", 120, objectstore.Options{})
	// Objects of one record each would make the offsets the object
	// numbers; appendObjects writes 1-3, so use the real base.
	base := bases[50]
	key := fmt.Sprintf("data/%s/0/%020d", topic.ID, base)
	for i := range 9 {
		if _, err := hb.Bucket.PutIfAbsent(ctx, fmt.Sprintf("%s.stray%d", key, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	reader := smallIndexEngine(hb, objectstore.Options{})
	if _, err := reader.Offsets(ctx, topic, 0); err != nil {
		t.Fatal(err)
	}
	hb.mu.Lock()
	before := len(hb.afters)
	hb.mu.Unlock()
	_, err := reader.Read(ctx, topic, 0, base, 1)
	hb.mu.Lock()
	afters := hb.afters[before:]
	hb.mu.Unlock()
	if err != nil || len(afters) > 20 {
		n := len(afters)
		t.Errorf("read at %d: %v; %d LISTs, the last two after %q and %q",
			base, err, n, afters[max(0, n-2)], afters[n-1])
	}
}

// A page of keys that are not segments after the newest segment does not
// stop the partition from loading.
func TestLoadPagesPastTrailingStrayKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	_, topic, _ := longPartition(t, bucket, "trailing", 30, objectstore.Options{})
	for i := range 10 {
		if _, err := bucket.PutIfAbsent(ctx, fmt.Sprintf("data/%s/0/tmp-%d", topic.ID, i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	reader := smallIndexEngine(bucket, objectstore.Options{})
	if _, err := reader.Offsets(ctx, topic, 0); err != nil {
		t.Errorf("load with 10 stray keys after the segments (page 10): %v", err)
	}
}

// Three brokers with small indexes append concurrently while a fourth
// keeps reading the whole log from 0, others keep waking, and one loads
// late: every reader sees one contiguous log, each batch once.
func TestConcurrentAppendsAndReadsBelowIndex(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		var writers []*objectstore.Engine
		for range 3 {
			writers = append(writers, smallIndexEngine(bucket, objectstore.Options{}))
		}
		topic := mustTopic(t, writers[0], "concurrent", 1)
		reader := smallIndexEngine(bucket, objectstore.Options{})
		var wg sync.WaitGroup
		for _, w := range writers {
			wg.Go(func() {
				for i := range 60 {
					if _, err := w.Append(ctx, topic, 0, plainBatch(i%3+1).encode()); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		stop := make(chan struct{})
		// Brokers keep waking while the log grows: each finds an end
		// that is an object boundary, and reads the batch before it.
		loaderDone := make(chan struct{})
		go func() {
			defer close(loaderDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := smallIndexEngine(bucket, objectstore.Options{})
				offs, err := e.Offsets(ctx, topic, 0)
				if err != nil {
					t.Errorf("load: %v", err)
					return
				}
				if offs.HighWatermark == 0 {
					continue
				}
				res, err := e.Read(ctx, topic, 0, offs.HighWatermark-1, 1)
				if err != nil {
					t.Errorf("read before the end %d: %v", offs.HighWatermark, err)
					return
				}
				if _, last := batchRange(t, res.Records); last != offs.HighWatermark-1 {
					t.Errorf("read before the end %d ended at %d", offs.HighWatermark, last)
					return
				}
			}
		}()
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for {
				select {
				case <-stop:
					return
				default:
				}
				var offset int64
				for {
					res, err := reader.Read(ctx, topic, 0, offset, 300)
					if err != nil {
						t.Errorf("read at %d: %v", offset, err)
						return
					}
					if len(res.Records) == 0 {
						break
					}
					first, last := batchRange(t, res.Records)
					if first > offset || last < offset {
						t.Errorf("read at %d returned %d-%d", offset, first, last)
						return
					}
					offset = last + 1
				}
			}
		}()
		wg.Wait()
		close(stop)
		<-readerDone
		<-loaderDone
		for name, e := range map[string]*objectstore.Engine{"writer0": writers[0], "reader": reader, "late": smallIndexEngine(bucket, objectstore.Options{})} {
			bases, counts := readAll(t, e, topic, 0)
			if len(bases) != 180 {
				t.Errorf("%s: %d batches, want 180", name, len(bases))
			}
			var next int64
			for i := range bases {
				if bases[i] != next {
					t.Fatalf("%s: batch %d at %d, want %d", name, i, bases[i], next)
				}
				next += int64(counts[i])
			}
		}
	})
}
