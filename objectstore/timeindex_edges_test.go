package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// The time index's edges: several brokers, a log start inside an entry,
// retention, stray keys, ties, Drain. Every answer is compared with the
// brute-force one, and every entry the engines leave is checked to be true.

// storedTimeEntry is a time index entry as its key reads.
type storedTimeEntry struct{ base, end, maxTimestamp int64 }

func timeIndexPrefixOf(topic objectstore.Topic) string {
	return "timeindex/" + topic.ID + "/0/"
}

// listTimeIndex returns the partition's well-formed time index entries,
// by key, and how many keys its prefix holds in all.
func listTimeIndex(t *testing.T, bucket objectstore.Bucket, topic objectstore.Topic) (entries []storedTimeEntry, keys int) {
	t.Helper()
	prefix := timeIndexPrefixOf(topic)
	objs, err := objectstore.ListAll(context.Background(), bucket, prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if base, end, ts, ok := objectstore.ParseTimeEntry(prefix, o.Key); ok {
			entries = append(entries, storedTimeEntry{base, end, ts})
		}
	}
	return entries, len(objs)
}

// checkTimeIndexTrue fails the test if an entry claims something false of
// recs: a record in [base, end) later than maxTimestamp, or offsets that
// were never written.
func checkTimeIndexTrue(t *testing.T, bucket objectstore.Bucket, topic objectstore.Topic, recs []timedRecord) {
	t.Helper()
	entries, _ := listTimeIndex(t, bucket, topic)
	hw := recs[len(recs)-1].offset + 1
	for _, te := range entries {
		if te.end > hw {
			t.Errorf("entry %+v reaches past the high watermark %d", te, hw)
		}
		for _, r := range recs {
			if r.offset >= te.base && r.offset < te.end && r.timestamp > te.maxTimestamp {
				t.Errorf("entry %+v, but record %d has timestamp %d", te, r.offset, r.timestamp)
				break
			}
		}
	}
}

// checkTimeAnswers compares OffsetForTime for each of targets, and
// MaxTimestamp, with the brute-force answers at logStart.
func checkTimeAnswers(t *testing.T, e *objectstore.Engine, topic objectstore.Topic, recs []timedRecord, logStart int64, targets []int64) {
	t.Helper()
	ctx := context.Background()
	for _, ts := range targets {
		off, got, err := e.OffsetForTime(ctx, topic, 0, ts)
		wantOff, wantTs := wantOffsetForTime(recs, logStart, ts)
		if err != nil || off != wantOff || got != wantTs {
			t.Errorf("log start %d: OffsetForTime(%d) = %d, %d, %v; want %d, %d", logStart, ts, off, got, err, wantOff, wantTs)
		}
	}
	off, ts, err := e.MaxTimestamp(ctx, topic, 0)
	wantOff, wantTs := wantMaxTimestamp(recs, logStart)
	if err != nil || off != wantOff || ts != wantTs {
		t.Errorf("log start %d: MaxTimestamp = %d, %d, %v; want %d, %d", logStart, off, ts, err, wantOff, wantTs)
	}
}

// appendTimed appends one batch of n records, the first at ts and each
// next one a millisecond later, and returns its records.
func appendTimed(t *testing.T, e *objectstore.Engine, topic objectstore.Topic, n int, ts int64) []timedRecord {
	t.Helper()
	spec := plainBatch(n)
	spec.timestamp = ts
	res, err := e.Append(context.Background(), topic, 0, spec.encode())
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]timedRecord, n)
	for r := range n {
		recs[r] = timedRecord{res.BaseOffset + int64(r), ts + int64(r)}
	}
	return recs
}

// spreadTargets returns timestamps from below the earliest record to past
// the latest, and each of some records' own.
func spreadTargets(recs []timedRecord, rng *rand.Rand, n int) []int64 {
	lo, hi := recs[0].timestamp, recs[0].timestamp
	for _, r := range recs {
		lo, hi = min(lo, r.timestamp), max(hi, r.timestamp)
	}
	targets := []int64{lo - 1, lo, hi, hi + 1}
	for range n {
		targets = append(targets, lo+rng.Int64N(hi-lo+1), recs[rng.IntN(len(recs))].timestamp)
	}
	return targets
}

func requestsOf(c *objectstore.CountingBucket, k objectstore.RequestKind) int64 {
	return c.Counts().Of(k)
}

// Two brokers append to one partition in turns, so that neither writes a
// run of timeRun objects; a third answers from lookups alone. Its first
// lookup indexes what it read, and the same lookup again reads little and
// writes nothing.
func TestTimeIndexInterleavedBrokers(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		const objects = 260
		rng := rand.New(rand.NewPCG(3, 4))
		a := smallIndexEngine(bucket, objectstore.Options{})
		b := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, a, "interleaved", 1)
		var recs []timedRecord
		brokers := []*objectstore.Engine{a, b}
		for i := 0; i < objects; {
			e := brokers[rng.IntN(2)]
			for range 1 + rng.IntN(5) {
				recs = append(recs, appendTimed(t, e, topic, i%3+1, int64(1000*i)+rng.Int64N(5000))...)
				i++
			}
		}
		for _, e := range brokers {
			if err := e.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			e.Close()
		}
		drained, _ := listTimeIndex(t, bucket, topic)
		if len(drained) > 2 {
			t.Fatalf("brokers that never wrote a run of 64 left %d entries: %+v", len(drained), drained)
		}

		counted := objectstore.NewCountingBucket(bucket)
		reader := smallIndexEngine(counted, objectstore.Options{CacheBytes: 1})
		lookups := []struct {
			name string
			do   func() (int64, int64, error)
			want func() (int64, int64)
		}{
			{"MaxTimestamp", func() (int64, int64, error) { return reader.MaxTimestamp(ctx, topic, 0) },
				func() (int64, int64) { return wantMaxTimestamp(recs, 0) }},
			{"OffsetForTime late", func() (int64, int64, error) { return reader.OffsetForTime(ctx, topic, 0, int64(1000*objects)-2000) },
				func() (int64, int64) { return wantOffsetForTime(recs, 0, int64(1000*objects)-2000) }},
			{"OffsetForTime middle", func() (int64, int64, error) { return reader.OffsetForTime(ctx, topic, 0, 1000*objects/2) },
				func() (int64, int64) { return wantOffsetForTime(recs, 0, 1000*objects/2) }},
		}
		for i, l := range lookups {
			var gets [2]int64
			for round := range 2 {
				before := counted.Counts()
				off, ts, err := l.do()
				wantOff, wantTs := l.want()
				if err != nil || off != wantOff || ts != wantTs {
					t.Fatalf("%s (round %d) = %d, %d, %v; want %d, %d", l.name, round, off, ts, err, wantOff, wantTs)
				}
				reader.Close() // the entries it writes in the background
				after := counted.Counts()
				gets[round] = after.Requests[objectstore.RequestGet] - before.Requests[objectstore.RequestGet]
				puts := after.Requests[objectstore.RequestPut] - before.Requests[objectstore.RequestPut]
				switch {
				case round == 0 && i == 0 && puts == 0:
					t.Errorf("%s read %d objects none indexed, and wrote no entry", l.name, gets[round])
				case round == 1 && puts != 0:
					t.Errorf("%s again wrote %d entries", l.name, puts)
				}
			}
			t.Logf("%s read %d objects, then %d", l.name, gets[0], gets[1])
			if i == 0 && gets[1]*2 > gets[0] {
				t.Errorf("%s read %d objects, and again %d: the entries it wrote did not help", l.name, gets[0], gets[1])
			}
			if gets[1] > 2*64+16 {
				t.Errorf("%s again read %d objects", l.name, gets[1])
			}
		}
		checkTimeIndexTrue(t, bucket, topic, recs)
		checkTimeAnswers(t, reader, topic, recs, 0, spreadTargets(recs, rng, 10))
		reader.Close()
	})
}

// Brokers appending at once, each Draining now and then, and lookups
// under them: go test -race, and every entry true.
func TestTimeIndexConcurrentAppendsAndLookups(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		a := smallIndexEngine(bucket, objectstore.Options{})
		b := smallIndexEngine(bucket, objectstore.Options{})
		reader := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, a, "concurrent", 1)
		var (
			mu   sync.Mutex
			recs []timedRecord
			wg   sync.WaitGroup
		)
		stop := make(chan struct{})
		for w, e := range []*objectstore.Engine{a, b} {
			wg.Go(func() {
				for i := range 90 {
					spec := plainBatch(i%3 + 1)
					spec.timestamp = int64(1000*i + 100*w)
					res, err := e.Append(ctx, topic, 0, spec.encode())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for r := range spec.records {
						recs = append(recs, timedRecord{res.BaseOffset + int64(r), spec.timestamp + int64(r)})
					}
					mu.Unlock()
					if i%20 == 19 {
						if err := e.Drain(ctx); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
		var lookups sync.WaitGroup
		lookups.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := reader.OffsetForTime(ctx, topic, 0, int64(1000*(i%90))); err != nil {
					t.Error(err)
				}
				if _, _, err := reader.MaxTimestamp(ctx, topic, 0); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		close(stop)
		lookups.Wait()
		for _, e := range []*objectstore.Engine{a, b, reader} {
			e.Close()
		}
		slices.SortFunc(recs, func(x, y timedRecord) int { return int(x.offset - y.offset) })
		checkTimeIndexTrue(t, bucket, topic, recs)
		fresh := smallIndexEngine(bucket, objectstore.Options{})
		checkTimeAnswers(t, fresh, topic, recs, 0, spreadTargets(recs, rand.New(rand.NewPCG(5, 6)), 8))
		fresh.Close()
		checkTimeIndexTrue(t, bucket, topic, recs)
	})
}

// DeleteRecords moves the log start into a batch, onto an entry's
// boundary, past the batch holding an entry's latest record, and to the
// high watermark: answers never fall below it and match a scan.
func TestTimeIndexLogStartInsideEntries(t *testing.T) {
	t.Parallel()
	for _, deleteObjects := range []bool{false, true} {
		t.Run(fmt.Sprintf("objects deleted %v", deleteObjects), func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				rng := rand.New(rand.NewPCG(7, 8))
				opts := objectstore.Options{}
				if deleteObjects {
					opts.RetentionSafety = time.Nanosecond
				}
				writer := smallIndexEngine(bucket, opts)
				topic := mustTopic(t, writer, "logstart", 1)
				var recs []timedRecord
				var peak timedRecord // the last record of the batch with the latest timestamp
				for i := range 200 {
					ts := int64(1000*i) + rng.Int64N(5000)
					if i == 70 {
						ts = 1_000_000 // the second entry's, and the log's, latest
					}
					batch := appendTimed(t, writer, topic, i%3+1, ts)
					if i == 70 {
						peak = batch[len(batch)-1]
					}
					recs = append(recs, batch...)
				}
				if err := writer.Drain(ctx); err != nil {
					t.Fatal(err)
				}
				writer.Close()
				entries, _ := listTimeIndex(t, bucket, topic)
				if len(entries) != 4 {
					t.Fatalf("want 3 appender entries and 1 drained, have %+v", entries)
				}
				hw := recs[len(recs)-1].offset + 1
				logStarts := []struct {
					name   string
					offset int64
				}{
					{"inside a batch", recs[5].offset + 1},
					{"on an entry's end", entries[0].end},
					{"past the latest record", peak.offset + 1},
					{"inside the last entry", entries[3].base + 2},
					{"the high watermark", hw},
				}
				for _, ls := range logStarts {
					if _, err := writer.DeleteRecords(ctx, topic, 0, ls.offset); err != nil {
						t.Fatal(err)
					}
					writer.Close() // the sweep
					targets := spreadTargets(recs, rng, 6)
					// The deleting broker knows the log start; a woken one
					// reads it.
					checkTimeAnswers(t, writer, topic, recs, ls.offset, targets)
					woken := smallIndexEngine(bucket, objectstore.Options{CacheBytes: 1})
					checkTimeAnswers(t, woken, topic, recs, ls.offset, targets)
					woken.Close()
					checkTimeIndexTrue(t, bucket, topic, recs)
					if !deleteObjects {
						continue
					}
					// Retention deleted the entries wholly below the log
					// start, and kept the rest.
					left, _ := listTimeIndex(t, bucket, topic)
					for _, te := range left {
						if te.end <= ls.offset {
							t.Errorf("%s: entry %+v is wholly below log start %d", ls.name, te, ls.offset)
						}
					}
					for _, te := range entries {
						if te.end > ls.offset && !slices.Contains(left, te) {
							t.Errorf("%s: entry %+v, reaching past log start %d, is gone", ls.name, te, ls.offset)
						}
					}
				}
			})
		})
	}
}

// Retention by retention.bytes, in the background sweeps reads start,
// deletes the entries of what it deleted.
func TestTimeIndexRetentionDeletesEntries(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := smallIndexEngine(bucket, objectstore.Options{})
		topic, err := e.CreateTopic(ctx, "retained", 1, map[string]string{"retention.bytes": "1"})
		if err != nil {
			t.Fatal(err)
		}
		// The writer sweeps a SweepInterval (5m) after it loaded: never here.
		recs := timedHistory(t, e, topic, 150, func(i int) int64 { return int64(1000 * i) })
		if err := e.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if entries, _ := listTimeIndex(t, bucket, topic); len(entries) != 3 {
			t.Fatalf("have entries %+v, want 3", entries)
		}
		sweeper := objectstore.New(bucket, objectstore.Options{RetentionSafety: time.Nanosecond, SweepInterval: time.Nanosecond})
		deadline := time.Now().Add(10 * time.Second)
		for {
			offs, err := sweeper.Offsets(ctx, topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			entries, _ := listTimeIndex(t, bucket, topic)
			objs, err := objectstore.ListAll(ctx, bucket, "data/"+topic.ID+"/", "")
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 1 {
				for _, te := range entries {
					if te.end <= offs.LogStart {
						t.Errorf("entry %+v is wholly below log start %d", te, offs.LogStart)
					}
				}
				if len(entries) != 1 {
					t.Errorf("entries %+v, want only the one with the newest object", entries)
				}
				checkTimeAnswers(t, sweeper, topic, recs, offs.LogStart, []int64{0, 148_000, 149_000, 150_000})
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("offsets %+v with %d objects left", offs, len(objs))
			}
			_, _ = sweeper.Read(ctx, topic, 0, offs.LogStart, 1) // starts a sweep
			sweeper.Close()
			time.Sleep(5 * time.Millisecond)
		}
		sweeper.Close()
	})
}

// Keys under the time index prefix that are not entries are ignored by
// lookups and by retention, whatever they would claim.
func TestTimeIndexIgnoresStrayKeys(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(9, 10))
		e := smallIndexEngine(bucket, objectstore.Options{RetentionSafety: time.Nanosecond})
		topic := mustTopic(t, e, "stray", 1)
		recs := timedHistory(t, e, topic, 150, func(i int) int64 { return int64(1000*i) + rng.Int64N(3000) })
		if err := e.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		e.Close()
		prefix := timeIndexPrefixOf(topic)
		const everything = "00000000000000000000-00000000000000099999"
		stray := []string{
			"junk",
			everything + "-",
			everything + "-abc",
			everything + "-0x10",
			everything + "-1-2",
			everything + "-5/x",
			"00000000000000000000_00000000000000099999-5",
			"0000000000000000000-000000000000000099999-5",
			"00000000000000000099-00000000000000000000-5",
			"00000000000000000050-00000000000000000050-5",
			"99999999999999999999-99999999999999999999-5",
			"-0000000000000000000-00000000000000099999-5",
			"sub/" + everything + "-5",
		}
		for _, key := range stray {
			if _, err := bucket.PutIfAbsent(ctx, prefix+key, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Entries of other partitions and topics are no business of this one.
		for _, key := range []string{
			"timeindex/" + topic.ID + "/00/" + everything + "-5",
			"timeindex/" + topic.ID + "/1/" + everything + "-5",
			"timeindex/" + topic.ID + everything + "-5",
		} {
			if _, err := bucket.PutIfAbsent(ctx, key, nil); err != nil {
				t.Fatal(err)
			}
		}
		woken := smallIndexEngine(bucket, objectstore.Options{RetentionSafety: time.Nanosecond})
		checkTimeAnswers(t, woken, topic, recs, 0, spreadTargets(recs, rng, 10))
		logStart := recs[len(recs)/2].offset
		if _, err := woken.DeleteRecords(ctx, topic, 0, logStart); err != nil {
			t.Fatal(err)
		}
		woken.Close()
		checkTimeAnswers(t, woken, topic, recs, logStart, spreadTargets(recs, rng, 10))
		woken.Close()
		entries, keys := listTimeIndex(t, bucket, topic)
		for _, te := range entries {
			if te.end <= logStart {
				t.Errorf("with stray keys about, entry %+v below log start %d stayed", te, logStart)
			}
		}
		if keys < len(stray) {
			t.Errorf("retention deleted stray keys: %d keys left, %d of them stray", keys, len(stray))
		}
	})
}

// MaxTimestamp returns the earliest record of the latest timestamp, when
// that timestamp is in several entries, in the part no entry covers, and
// when the log start passes its first record.
func TestTimeIndexMaxTimestampTies(t *testing.T) {
	t.Parallel()
	const objects = 150 // two appender entries and 22 objects no entry covers
	cases := []struct {
		name     string
		stamp    func(i int) int64
		logStart func(recs []timedRecord) int64
	}{
		{"every record", func(int) int64 { return 5000 }, nil},
		{"in both entries and the rest", func(i int) int64 {
			if i == 100 || i == 20 || i == 140 {
				return 9000
			}
			return int64(i)
		}, nil},
		{"only in the rest, twice", func(i int) int64 {
			if i == 131 || i == 145 {
				return 9000
			}
			return int64(i)
		}, nil},
		{"in an entry and the rest, log start past the first", func(i int) int64 {
			if i == 3 || i == 70 || i == 140 {
				return 9000
			}
			return int64(i)
		}, func(recs []timedRecord) int64 { return recs[5].offset }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				writer := smallIndexEngine(bucket, objectstore.Options{})
				topic := mustTopic(t, writer, "ties", 1)
				var recs []timedRecord
				for i := range objects {
					recs = append(recs, appendTimed(t, writer, topic, 1, c.stamp(i))...)
				}
				var logStart int64
				if c.logStart != nil {
					logStart = c.logStart(recs)
					if _, err := writer.DeleteRecords(ctx, topic, 0, logStart); err != nil {
						t.Fatal(err)
					}
				}
				writer.Close()
				if entries, _ := listTimeIndex(t, bucket, topic); len(entries) != 2 {
					t.Fatalf("have entries %+v, want 2", entries)
				}
				// Twice: the second lookup has the entries the first wrote.
				for range 2 {
					reader := smallIndexEngine(bucket, objectstore.Options{CacheBytes: 1})
					off, ts, err := reader.MaxTimestamp(ctx, topic, 0)
					wantOff, wantTs := wantMaxTimestamp(recs, logStart)
					if err != nil || off != wantOff || ts != wantTs {
						t.Errorf("MaxTimestamp = %d, %d, %v; want %d, %d", off, ts, err, wantOff, wantTs)
					}
					reader.Close()
				}
			})
		})
	}
}

// Drain writes the run an appender has not indexed yet, once; an engine
// that appended nothing writes nothing.
func TestTimeIndexDrainWritesPartialRun(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "drain", 1)
		idle := newEngine(bucket)
		if err := idle.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		recs := timedHistory(t, e, topic, 10, func(i int) int64 { return int64(1000 * (10 - i)) })
		e.Close()
		if entries, _ := listTimeIndex(t, bucket, topic); len(entries) != 0 {
			t.Fatalf("10 objects appended, entries %+v before Drain", entries)
		}
		end := recs[len(recs)-1].offset + 1
		want := []storedTimeEntry{{0, end, 10_000}} // the first batch's one record
		for range 2 {
			if err := e.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if entries, _ := listTimeIndex(t, bucket, topic); !slices.Equal(entries, want) {
				t.Fatalf("after Drain entries %+v, want %+v", entries, want)
			}
		}
		// A run of timeRun, then 3 more and Drain: each its entry.
		more := timedHistory(t, e, topic, 67, func(i int) int64 { return int64(100_000 + i) })
		e.Close()
		recs = append(recs, more...)
		if err := e.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		entries, _ := listTimeIndex(t, bucket, topic)
		if len(entries) != 3 || entries[0] != want[0] || entries[1].base != end || entries[1].end != entries[2].base || entries[2].end != recs[len(recs)-1].offset+1 {
			t.Fatalf("entries %+v, want 3 in a row from 0 to %d", entries, recs[len(recs)-1].offset+1)
		}
		checkTimeIndexTrue(t, bucket, topic, recs)
		if err := idle.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if again, _ := listTimeIndex(t, bucket, topic); !slices.Equal(again, entries) {
			t.Fatalf("an idle engine's Drain changed entries %+v to %+v", entries, again)
		}
	})
}

// A broker that has not seen the newest objects (TailRefresh an hour)
// finds entries past its high watermark, written by the broker that
// appended them: its answers are those of the log it knows.
func TestTimeIndexEntriesPastHighWatermark(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		writer := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, writer, "ahead", 1)
		recs := timedHistory(t, writer, topic, 100, func(i int) int64 { return int64(1000 * i) })
		stale := smallIndexEngine(bucket, objectstore.Options{TailRefresh: time.Hour, TailTrust: time.Hour})
		if _, err := stale.Offsets(ctx, topic, 0); err != nil {
			t.Fatal(err)
		}
		// Later records, and some with the latest timestamps.
		later := timedHistory(t, writer, topic, 100, func(i int) int64 { return int64(1_000_000 + 1000*i) })
		if err := writer.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		writer.Close()
		entries, _ := listTimeIndex(t, bucket, topic)
		hw := recs[len(recs)-1].offset + 1
		if entries[len(entries)-1].end <= hw {
			t.Fatalf("entries %+v, none past %d", entries, hw)
		}
		checkTimeAnswers(t, stale, topic, recs, 0, []int64{0, 50_000, 99_000, 99_001, 100_000, 1_050_000})
		stale.Close()
		checkTimeIndexTrue(t, bucket, topic, append(recs, later...))
	})
}

// goneBucket runs onGet before the first GET of key.
type goneBucket struct {
	objectstore.Bucket
	key   string
	once  sync.Once
	onGet func()
}

func (b *goneBucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if key == b.key {
		b.once.Do(b.onGet)
	}
	return b.Bucket.Get(ctx, key)
}

// Another broker deletes the objects a lookup is reading: the lookup
// resumes at the new log start, answers as a scan from there would, and
// indexes nothing false.
func TestTimeIndexObjectsDeletedUnderLookup(t *testing.T) {
	t.Parallel()
	for _, lookup := range []string{"OffsetForTime", "MaxTimestamp"} {
		t.Run(lookup, func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				writer := smallIndexEngine(bucket, objectstore.Options{})
				topic := mustTopic(t, writer, "gone", 1)
				rng := rand.New(rand.NewPCG(11, 12))
				stamp := func(i int) int64 { return int64(1000 * i) }
				if lookup == "MaxTimestamp" {
					stamp = func(i int) int64 {
						if i == 75 {
							return 1_000_000 // deleted before the lookup reaches it
						}
						return rng.Int64N(100_000)
					}
				}
				recs := timedHistory(t, writer, topic, 140, stamp)
				writer.Close()
				// timedHistory's object i holds i%3+1 records.
				objectBase := func(i int) int64 {
					var off int64
					for j := range i {
						off += int64(j%3 + 1)
					}
					return off
				}
				logStart := objectBase(80)
				deleter := objectstore.New(bucket, objectstore.Options{RetentionSafety: time.Nanosecond})
				gone := &goneBucket{Bucket: bucket, key: fmt.Sprintf("data/%s/0/%020d", topic.ID, objectBase(70))}
				gone.onGet = func() {
					if _, err := deleter.DeleteRecords(ctx, topic, 0, logStart); err != nil {
						t.Error(err)
					}
					if _, err := bucket.Get(ctx, gone.key); !errors.Is(err, objectstore.ErrNotFound) {
						t.Errorf("object at %d not deleted: %v", objectBase(70), err)
					}
				}
				reader := smallIndexEngine(gone, objectstore.Options{CacheBytes: 1})
				var off, ts, wantOff, wantTs int64
				var err error
				if lookup == "MaxTimestamp" {
					off, ts, err = reader.MaxTimestamp(ctx, topic, 0)
					wantOff, wantTs = wantMaxTimestamp(recs, logStart)
				} else {
					target := int64(1000 * 90)
					off, ts, err = reader.OffsetForTime(ctx, topic, 0, target)
					wantOff, wantTs = wantOffsetForTime(recs, logStart, target)
				}
				reader.Close()
				deleter.Close()
				if err != nil || off != wantOff || ts != wantTs {
					t.Errorf("%s = %d, %d, %v; want %d, %d", lookup, off, ts, err, wantOff, wantTs)
				}
				checkTimeIndexTrue(t, bucket, topic, recs)
			})
		})
	}
}

// Batches without timestamps (MaxTimestamp -1) cannot hold the answer of
// MaxTimestamp: a log of them, indexed, reads no object.
func TestTimeIndexMaxTimestampOfUntimedLog(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		const objects = 200
		writer := smallIndexEngine(bucket, objectstore.Options{})
		topic := mustTopic(t, writer, "untimed", 1)
		var recs []timedRecord
		for range objects {
			recs = append(recs, appendTimed(t, writer, topic, 1, -1)...)
		}
		if err := writer.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		writer.Close()
		counted := objectstore.NewCountingBucket(bucket)
		reader := smallIndexEngine(counted, objectstore.Options{CacheBytes: 1})
		for round := range 2 {
			before := requestsOf(counted, objectstore.RequestGet)
			off, ts, err := reader.MaxTimestamp(ctx, topic, 0)
			wantOff, wantTs := wantMaxTimestamp(recs, 0)
			if err != nil || off != wantOff || ts != wantTs {
				t.Fatalf("MaxTimestamp = %d, %d, %v; want %d, %d", off, ts, err, wantOff, wantTs)
			}
			reader.Close()
			if gets := requestsOf(counted, objectstore.RequestGet) - before; gets > 16 {
				t.Errorf("round %d: MaxTimestamp of %d untimed objects, all indexed, read %d of them", round, objects, gets)
			}
		}
	})
}

// A lookup reads the objects of the stretch it was asked for, not
// readChunk (64) objects from its start whatever the stretch's length: an
// entry of a few objects (a broker's Drain) costs a few GETs, and so does a
// short stretch no entry covers before entries a lookup skips.
func TestTimeIndexLookupReadsOnlyItsStretch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// unindexed objects first, by a broker killed before it wrote an
		// entry; then the rest, a Drain every 5 objects.
		unindexed int
		peak      int // the object with the latest timestamp, or -1
		lookup    func(ctx context.Context, e *objectstore.Engine, topic objectstore.Topic) (int64, int64, error)
		want      func(recs []timedRecord) (int64, int64)
		maxGets   int64
	}{
		{
			name: "MaxTimestamp, answer in a 5-object entry",
			peak: 2,
			lookup: func(ctx context.Context, e *objectstore.Engine, topic objectstore.Topic) (int64, int64, error) {
				return e.MaxTimestamp(ctx, topic, 0)
			},
			want:    func(recs []timedRecord) (int64, int64) { return wantMaxTimestamp(recs, 0) },
			maxGets: 5,
		},
		{
			name:      "OffsetForTime, 5 unindexed objects before skipped entries",
			unindexed: 5,
			peak:      -1,
			lookup: func(ctx context.Context, e *objectstore.Engine, topic objectstore.Topic) (int64, int64, error) {
				return e.OffsetForTime(ctx, topic, 0, 150_000)
			},
			want:    func(recs []timedRecord) (int64, int64) { return wantOffsetForTime(recs, 0, 150_000) },
			maxGets: 5 + 16, // the stretch, and a window of reads where the answer is
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				killed := smallIndexEngine(bucket, objectstore.Options{})
				topic := mustTopic(t, killed, "short-runs", 1)
				writer := smallIndexEngine(bucket, objectstore.Options{})
				var recs []timedRecord
				for i := range 200 {
					ts := int64(1000 * i)
					if i == c.peak {
						ts = 1_000_000
					}
					e := writer
					if i < c.unindexed {
						e = killed
					}
					recs = append(recs, appendTimed(t, e, topic, 1, ts)...)
					if i >= c.unindexed && (i-c.unindexed)%5 == 4 {
						if err := writer.Drain(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
				killed.Close()
				writer.Close()
				if entries, _ := listTimeIndex(t, bucket, topic); len(entries) != (200-c.unindexed)/5 {
					t.Fatalf("have %d entries, want %d", len(entries), (200-c.unindexed)/5)
				}
				// A broker with the default index (every object of this
				// log in it), as in production.
				counted := objectstore.NewCountingBucket(bucket)
				reader := objectstore.New(counted, objectstore.Options{CacheBytes: 1})
				if _, err := reader.Offsets(ctx, topic, 0); err != nil { // loaded: its GETs are not the lookup's
					t.Fatal(err)
				}
				before := requestsOf(counted, objectstore.RequestGet)
				off, ts, err := c.lookup(ctx, reader, topic)
				wantOff, wantTs := c.want(recs)
				if err != nil || off != wantOff || ts != wantTs {
					t.Fatalf("lookup = %d, %d, %v; want %d, %d", off, ts, err, wantOff, wantTs)
				}
				if gets := requestsOf(counted, objectstore.RequestGet) - before; gets > c.maxGets {
					t.Errorf("lookup read %d objects, want at most %d", gets, c.maxGets)
				}
				reader.Close()
			})
		})
	}
}

// A partition of at most timeRun objects, all in the broker's index, is
// read without listing its time index, and its lookups write no entry.
func TestTimeIndexShortPartitionNeitherListsNorWrites(t *testing.T) {
	t.Parallel()
	for _, objects := range []int{1, 10, 64, 65} {
		t.Run(strconv.Itoa(objects), func(t *testing.T) {
			t.Parallel()
			forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
				ctx := context.Background()
				rng := rand.New(rand.NewPCG(13, uint64(objects)))
				writer := newEngine(bucket)
				topic := mustTopic(t, writer, "short", 1)
				recs := timedHistory(t, writer, topic, objects, func(i int) int64 { return rng.Int64N(100_000) })
				writer.Close()
				counted := objectstore.NewCountingBucket(bucket)
				reader := objectstore.New(counted, objectstore.Options{CacheBytes: 1})
				if _, err := reader.Offsets(ctx, topic, 0); err != nil {
					t.Fatal(err)
				}
				before := counted.Counts()
				checkTimeAnswers(t, reader, topic, recs, 0, spreadTargets(recs, rng, 3))
				reader.Close()
				after := counted.Counts()
				lists := after.Requests[objectstore.RequestList] - before.Requests[objectstore.RequestList]
				puts := after.Requests[objectstore.RequestPut] - before.Requests[objectstore.RequestPut]
				if short := objects <= 64; short && (lists != 0 || puts != 0) {
					t.Errorf("%d objects: lookups made %d LISTs and %d PUTs", objects, lists, puts)
				} else if !short && lists == 0 {
					t.Errorf("%d objects: lookups never listed the time index", objects)
				}
			})
		})
	}
}

// DeleteTopic deletes the topic's time index with it.
func TestTimeIndexDeletedWithTopic(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "doomed", 2)
		timedHistory(t, e, topic, 70, func(i int) int64 { return int64(i) })
		if err := e.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if entries, _ := listTimeIndex(t, bucket, topic); len(entries) != 2 {
			t.Fatalf("entries %+v, want 2", entries)
		}
		if err := e.DeleteTopic(ctx, topic.Name); err != nil {
			t.Fatal(err)
		}
		e.Close()
		left, err := objectstore.ListAll(ctx, bucket, "timeindex/"+topic.ID+"/", "")
		if err != nil || len(left) != 0 {
			t.Fatalf("after DeleteTopic, %d time index keys left (%v)", len(left), err)
		}
	})
}
