package objectstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// smallIndexEngine is an engine whose partition indexes list 10 keys at a
// time and hold at most 40 objects, so that a few hundred objects make a
// long history: loading searches for the newest objects, and reads below
// the index locate theirs with a LIST.
func smallIndexEngine(bucket objectstore.Bucket, opts objectstore.Options) *objectstore.Engine {
	if opts.TailRefresh == 0 {
		opts.TailRefresh = time.Millisecond
	}
	e := objectstore.New(bucket, opts)
	objectstore.SetIndexSizes(e, 10, 40)
	return e
}

// appendObjects appends n batches one at a time, each its own object;
// batch i has i%3+1 records and timestamp 1000*(i+1).
func appendObjects(t *testing.T, e *objectstore.Engine, topic objectstore.Topic, n int) (bases []int64) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		spec := plainBatch(i%3 + 1)
		spec.timestamp = int64(1000 * (i + 1))
		res, err := e.Append(ctx, topic, 0, spec.encode())
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, res.BaseOffset)
	}
	return bases
}

func TestLongHistory(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		const objects = 237
		writer, topic, bases := longPartition(t, bucket, "history", objects, objectstore.Options{})
		end := bases[objects-1] + int64((objects-1)%3+1)

		// A woken broker finds the end of the log with a few LISTs in a
		// row, not one per page of history (24 here): with one LIST at a
		// time, that is a few LISTs.
		counted := objectstore.NewCountingBucket(bucket)
		sequential := smallIndexEngine(counted, objectstore.Options{})
		objectstore.SetSearchProbes(sequential, 1)
		offs, err := sequential.Offsets(ctx, topic, 0)
		if err != nil || offs.HighWatermark != end || offs.LogStart != 0 {
			t.Fatalf("offsets %+v, %v; want high watermark %d", offs, err, end)
		}
		if lists := counted.Counts().Of(objectstore.RequestList); lists > 16 {
			t.Errorf("loading took %d LISTs", lists)
		}
		woken := smallIndexEngine(bucket, objectstore.Options{})
		if offs, err := woken.Offsets(ctx, topic, 0); err != nil || offs.HighWatermark != end {
			t.Fatalf("offsets %+v, %v; want high watermark %d", offs, err, end)
		}

		// Every batch reads back, from the index and from below it, on
		// the broker that wrote them (whose index was trimmed) and on the
		// woken one.
		for name, e := range map[string]*objectstore.Engine{"writer": writer, "woken": woken} {
			got, _ := readAll(t, e, topic, 0)
			if len(got) != objects {
				t.Fatalf("%s: read %d batches, want %d", name, len(got), objects)
			}
			for i := range got {
				if got[i] != bases[i] {
					t.Fatalf("%s: batch %d at offset %d, want %d", name, i, got[i], bases[i])
				}
			}
			// Reading from any offset starts with the batch holding it.
			for offset := int64(0); offset < end; offset += 7 {
				res, err := e.Read(ctx, topic, 0, offset, 1)
				if err != nil {
					t.Fatalf("%s: read at %d: %v", name, offset, err)
				}
				first, last := batchRange(t, res.Records)
				if first > offset || last < offset {
					t.Fatalf("%s: read at %d returned offsets %d-%d", name, offset, first, last)
				}
			}
		}

		// Timestamps below the index are found (batch i has timestamp
		// 1000*(i+1)).
		off, ts, err := woken.OffsetForTime(ctx, topic, 0, 3000)
		if err != nil || off != bases[2] || ts != 3000 {
			t.Fatalf("OffsetForTime(3000) = %d, %d, %v; want %d", off, ts, err, bases[2])
		}

		// Appends continue at the end, and a third broker sees one log.
		more := appendObjects(t, woken, topic, 3)
		if more[0] != end {
			t.Fatalf("append after wake at %d, want %d", more[0], end)
		}
		got, _ := readAll(t, smallIndexEngine(bucket, objectstore.Options{}), topic, 0)
		if len(got) != objects+3 {
			t.Fatalf("third broker read %d batches, want %d", len(got), objects+3)
		}
	})
}

// batchRange returns the first and last offset of the batches in records.
func batchRange(t testing.TB, records []byte) (first, last int64) {
	t.Helper()
	first, last = -1, -1
	for len(records) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(records); err != nil {
			t.Fatal(err)
		}
		if first < 0 {
			first = b.FirstOffset
		}
		last = b.FirstOffset + int64(b.LastOffsetDelta)
		records = records[12+int(b.Length):]
	}
	return first, last
}

func TestLongHistoryDeleteRecords(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer, topic, bases := longPartition(t, bucket, "trimmed", 120, objectstore.Options{RetentionSafety: time.Nanosecond})

		woken := smallIndexEngine(bucket, objectstore.Options{RetentionSafety: time.Nanosecond})
		if _, err := woken.Offsets(ctx, topic, 0); err != nil {
			t.Fatal(err)
		}
		// Move the log start to the 30th object, far below the woken
		// broker's index, after reading there (so that it remembers
		// where those objects are).
		if _, err := woken.Read(ctx, topic, 0, bases[10], 1); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.DeleteRecords(ctx, topic, 0, bases[30]); err != nil {
			t.Fatal(err)
		}
		writer.Close()
		if _, err := woken.FreshOffsets(ctx, topic, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := woken.Read(ctx, topic, 0, bases[10], 1); !errors.Is(err, objectstore.ErrOffsetOutOfRange) {
			t.Fatalf("read below the new log start: %v", err)
		}
		res, err := woken.Read(ctx, topic, 0, bases[30], 1)
		if err != nil {
			t.Fatal(err)
		}
		if first, _ := batchRange(t, res.Records); first != bases[30] {
			t.Fatalf("read at the log start returned offset %d, want %d", first, bases[30])
		}
	})
}

func TestLongHistoryRetentionListsOnlyWhatItRemoves(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		counted := objectstore.NewCountingBucket(bucket)
		e := smallIndexEngine(counted, objectstore.Options{RetentionSafety: time.Nanosecond, SweepInterval: time.Nanosecond})
		topic, err := e.CreateTopic(ctx, "aging", 1, map[string]string{"retention.ms": "60000"})
		if err != nil {
			t.Fatal(err)
		}
		// 200 objects, none old enough for retention: each sweep a read
		// starts lists one page and stops.
		appendObjects(t, e, topic, 200)
		e.Close()
		before := counted.Counts().Of(objectstore.RequestList)
		for range 5 {
			if _, err := e.Read(ctx, topic, 0, 0, 1); err != nil {
				t.Fatal(err)
			}
			e.Close()
		}
		if lists := counted.Counts().Of(objectstore.RequestList) - before; lists > 5*2 {
			t.Errorf("5 sweeps of a partition nothing expired in listed %d pages", lists)
		}
		offs, err := e.Offsets(ctx, topic, 0)
		if err != nil || offs.LogStart != 0 {
			t.Fatalf("offsets %+v, %v: nothing should have expired", offs, err)
		}
	})
}

// Objects of very different sizes: locating an offset below the index
// must go further back than the newest objects' sizes suggest, or
// forward past more objects than one LIST returns.
func TestLongHistoryUnevenObjects(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, writer, "uneven", 1)
		var bases []int64
		var end int64
		for _, run := range []struct{ objects, records int }{{60, 1}, {40, 50}, {60, 1}, {40, 30}, {30, 1}} {
			for range run.objects {
				res, err := writer.Append(ctx, topic, 0, plainBatch(run.records).encode())
				if err != nil {
					t.Fatal(err)
				}
				bases = append(bases, res.BaseOffset)
				end = res.BaseOffset + int64(run.records)
			}
		}
		woken := smallIndexEngine(bucket, objectstore.Options{})
		got, _ := readAll(t, woken, topic, 0)
		if len(got) != len(bases) {
			t.Fatalf("read %d batches, want %d", len(got), len(bases))
		}
		for offset := int64(0); offset < end; offset += 13 {
			// A new engine each time, so that no earlier read left the
			// objects around offset located.
			e := smallIndexEngine(bucket, objectstore.Options{})
			res, err := e.Read(ctx, topic, 0, offset, 1)
			if err != nil {
				t.Fatalf("read at %d: %v", offset, err)
			}
			first, last := batchRange(t, res.Records)
			if first > offset || last < offset {
				t.Fatalf("read at %d returned offsets %d-%d", offset, first, last)
			}
		}
	})
}

// Two consumers reading different parts of a partition's history take
// turns: each part is located once, not on every fetch.
func TestTwoReadersOfHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	_, topic, bases := longPartition(t, bucket, "two-readers", 150, objectstore.Options{})
	counted := objectstore.NewCountingBucket(bucket)
	e := smallIndexEngine(counted, objectstore.Options{})
	if _, err := e.Offsets(ctx, topic, 0); err != nil {
		t.Fatal(err)
	}
	before := counted.Counts().Of(objectstore.RequestList)
	for i := range 3 {
		for _, base := range []int64{bases[20+i], bases[80+i]} {
			res, err := e.Read(ctx, topic, 0, base, 1)
			if err != nil {
				t.Fatal(err)
			}
			if first, _ := batchRange(t, res.Records); first != base {
				t.Fatalf("read at %d returned offset %d", base, first)
			}
		}
	}
	if lists := counted.Counts().Of(objectstore.RequestList) - before; lists > 4 {
		t.Errorf("6 alternating reads of two places took %d LISTs", lists)
	}
}

// A partition that fills one LIST page but not two loads with two LISTs,
// as listing it would.
func TestLoadOfAPageAndAHalf(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	_, topic, _ := longPartition(t, bucket, "page-and-a-half", 15, objectstore.Options{})
	counted := objectstore.NewCountingBucket(bucket)
	if _, err := smallIndexEngine(counted, objectstore.Options{}).Offsets(ctx, topic, 0); err != nil {
		t.Fatal(err)
	}
	if lists := counted.Counts().Of(objectstore.RequestList); lists != 2 {
		t.Errorf("loading 15 objects, 10 to a page, took %d LISTs", lists)
	}
}

// longPartition writes n objects (see appendObjects) to a new topic of one
// partition through a small-index engine with opts, and returns the
// engine, the topic and the batches' base offsets.
func longPartition(t *testing.T, bucket objectstore.Bucket, name string, n int, opts objectstore.Options) (*objectstore.Engine, objectstore.Topic, []int64) {
	t.Helper()
	writer := smallIndexEngine(bucket, opts)
	topic := mustTopic(t, writer, name, 1)
	return writer, topic, appendObjects(t, writer, topic, n)
}
