package objectstore_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// timedRecord is one record written by timedHistory.
type timedRecord struct{ offset, timestamp int64 }

// timedHistory appends n one-batch objects whose timestamps come from
// stamp(i), each batch of i%3+1 records one millisecond apart, and returns
// every record.
func timedHistory(t *testing.T, e *objectstore.Engine, topic objectstore.Topic, n int, stamp func(i int) int64) []timedRecord {
	t.Helper()
	var recs []timedRecord
	for i := range n {
		spec := plainBatch(i%3 + 1)
		spec.timestamp = stamp(i)
		res, err := e.Append(context.Background(), topic, 0, spec.encode())
		if err != nil {
			t.Fatal(err)
		}
		for r := range spec.records {
			recs = append(recs, timedRecord{res.BaseOffset + int64(r), spec.timestamp + int64(r)})
		}
	}
	return recs
}

// wantOffsetForTime is ListOffsets' answer by definition: the first record
// at or after ts.
func wantOffsetForTime(recs []timedRecord, logStart, ts int64) (offset, timestamp int64) {
	for _, r := range recs {
		if r.offset >= logStart && r.timestamp >= ts {
			return r.offset, r.timestamp
		}
	}
	return -1, -1
}

// wantMaxTimestamp is the earliest record with the latest timestamp.
func wantMaxTimestamp(recs []timedRecord, logStart int64) (offset, timestamp int64) {
	offset, timestamp = -1, -1
	for _, r := range recs {
		if r.offset >= logStart && r.timestamp > timestamp {
			offset, timestamp = r.offset, r.timestamp
		}
	}
	return offset, timestamp
}

func TestTimeIndexAnswersLikeAScan(t *testing.T) {
	t.Parallel()
	stamps := map[string]func(rng *rand.Rand) func(i int) int64{
		// Producers' clocks: rising, with jitter of a few objects.
		"rising": func(rng *rand.Rand) func(int) int64 {
			return func(i int) int64 { return int64(1000*i) + rng.Int64N(5000) }
		},
		// Event times replayed out of order.
		"random": func(rng *rand.Rand) func(int) int64 {
			return func(int) int64 { return rng.Int64N(300_000) }
		},
	}
	for name, stamp := range stamps {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				const objects = 300
				rng := rand.New(rand.NewPCG(1, 2))
				writer := smallIndexEngine(bucket, objectstore.Options{})
				topic := mustTopic(t, writer, "times", 1)
				recs := timedHistory(t, writer, topic, objects, stamp(rng))
				if err := writer.Drain(ctx); err != nil {
					t.Fatal(err)
				}
				writer.Close()

				// A woken broker, caching no object (1 byte), so that every
				// object a lookup reads is a GET.
				counted := objectstore.NewCountingBucket(bucket)
				woken := smallIndexEngine(counted, objectstore.Options{CacheBytes: 1})
				for range 40 {
					ts := rng.Int64N(320_000)
					before := counted.Counts().Of(objectstore.RequestGet)
					off, got, err := woken.OffsetForTime(ctx, topic, 0, ts)
					wantOff, wantTs := wantOffsetForTime(recs, 0, ts)
					if err != nil || off != wantOff || got != wantTs {
						t.Fatalf("OffsetForTime(%d) = %d, %d, %v; want %d, %d", ts, off, got, err, wantOff, wantTs)
					}
					if gets := counted.Counts().Of(objectstore.RequestGet) - before; name == "rising" && gets > 2*64 {
						t.Errorf("OffsetForTime(%d) read %d objects of %d", ts, gets, objects)
					}
				}
				off, ts, err := woken.MaxTimestamp(ctx, topic, 0)
				wantOff, wantTs := wantMaxTimestamp(recs, 0)
				if err != nil || off != wantOff || ts != wantTs {
					t.Fatalf("MaxTimestamp = %d, %d, %v; want %d, %d", off, ts, err, wantOff, wantTs)
				}
			})
		})
	}
}

// A time index of many pages is listed in a few rounds of LISTs, the
// ranges after the first page at once, and every entry is found: the
// lookups read no more than with an index of one page.
func TestTimeIndexOfManyPages(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		const objects = 64*8 + 17 // 9 entries: five pages of two
		writer := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, writer, "pages", 1)
		recs := timedHistory(t, writer, topic, objects, func(i int) int64 { return int64(1000 * i) })
		if err := writer.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		writer.Close()

		rounds := &prefixListRounds{Bucket: bucket, prefix: "timeindex/"}
		counted := objectstore.NewCountingBucket(rounds)
		woken := smallIndexEngine(counted, objectstore.Options{CacheBytes: 1})
		objectstore.SetIndexSizes(woken, 2, 40)
		if _, err := woken.Offsets(ctx, topic, 0); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 5, 300, 500, objects - 1} {
			ts := int64(1000 * i)
			rounds.rounds.Store(0)
			before := counted.Counts().Of(objectstore.RequestGet)
			off, got, err := woken.OffsetForTime(ctx, topic, 0, ts)
			wantOff, wantTs := wantOffsetForTime(recs, 0, ts)
			if err != nil || off != wantOff || got != wantTs {
				t.Fatalf("OffsetForTime(%d) = %d, %d, %v; want %d, %d", ts, off, got, err, wantOff, wantTs)
			}
			if gets := counted.Counts().Of(objectstore.RequestGet) - before; gets > 64+16 {
				t.Errorf("OffsetForTime(%d) read %d objects", ts, gets)
			}
			// The index's first page, then the other four at once (and a
			// second page of a range the first page misjudged).
			if r := rounds.rounds.Load(); r > 3 {
				t.Errorf("OffsetForTime(%d) listed the time index in %d rounds", ts, r)
			}
		}
	})
}

// prefixListRounds counts the rounds of LISTs of keys under prefix: the
// LISTs that start while no other is in flight. Each takes 20 ms at least.
type prefixListRounds struct {
	objectstore.Bucket
	prefix           string
	inFlight, rounds atomic.Int64
}

func (b *prefixListRounds) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if !strings.HasPrefix(prefix, b.prefix) {
		return b.Bucket.List(ctx, prefix, startAfter, limit)
	}
	if b.inFlight.Add(1) == 1 {
		b.rounds.Add(1)
	}
	defer b.inFlight.Add(-1)
	// As long as a remote store's LIST, so that LISTs sent at once are
	// in flight together.
	time.Sleep(20 * time.Millisecond)
	return b.Bucket.List(ctx, prefix, startAfter, limit)
}
