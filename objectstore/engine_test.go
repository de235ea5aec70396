package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
	"github.com/siestamq/siesta/objectstore/s3"
	"github.com/siestamq/siesta/objectstore/sqlite"
)

// bucketMakers are the backends every engine test runs against. Backends
// that need a server (S3 on MinIO) add themselves when it is available.
func bucketMakers(t testing.TB) map[string]func(t testing.TB) objectstore.Bucket {
	t.Helper()
	makers := map[string]func(t testing.TB) objectstore.Bucket{
		"memory": func(testing.TB) objectstore.Bucket { return memory.New() },
		"sqlite": func(t testing.TB) objectstore.Bucket {
			b, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "siesta.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
	}
	if miniotest.Enabled() {
		makers["s3"] = func(t testing.TB) objectstore.Bucket {
			srv := miniotest.Start(t)
			b, err := s3.Open(t.Context(), s3.Options{
				Bucket:          srv.NewBucket(t),
				Prefix:          "siesta/",
				Endpoint:        srv.Endpoint,
				Region:          srv.Region,
				PathStyle:       true,
				AccessKeyID:     srv.AccessKey,
				SecretAccessKey: srv.SecretKey,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}
	}
	return makers
}

// forEachBucket runs fn as a subtest per backend.
func forEachBucket(t *testing.T, fn func(t *testing.T, bucket objectstore.Bucket)) {
	t.Helper()
	for name, mk := range bucketMakers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, mk(t))
		})
	}
}

func newEngine(bucket objectstore.Bucket) *objectstore.Engine {
	return objectstore.New(bucket, objectstore.Options{TailRefresh: time.Millisecond})
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchSpec describes a record batch as a producer would send it.
type batchSpec struct {
	records    int
	producerID int64 // -1: not idempotent
	epoch      int16
	sequence   int32
	timestamp  int64
	value      string
}

func plainBatch(n int) batchSpec {
	return batchSpec{records: n, producerID: -1, epoch: -1, sequence: -1, timestamp: 1000}
}

// encode builds an uncompressed magic-2 batch with a correct CRC.
func (s batchSpec) encode() []byte {
	var records []byte
	for i := range s.records {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.TimestampDelta64 = int64(i)
		r.Value = []byte(fmt.Sprintf("%s-%d", s.value, i))
		// Length counts the bytes after its own varint: encode once with
		// a zero length (one byte) to measure them.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		records = append(records, r.AppendTo(nil)...)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(s.records - 1),
		FirstTimestamp:       s.timestamp,
		MaxTimestamp:         s.timestamp + int64(s.records-1),
		ProducerID:           s.producerID,
		ProducerEpoch:        s.epoch,
		FirstSequence:        s.sequence,
		NumRecords:           int32(s.records),
		Records:              records,
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], castagnoli))
	return b.AppendTo(nil)
}

func mustTopic(t *testing.T, e *objectstore.Engine, name string, partitions int32) objectstore.Topic {
	t.Helper()
	topic, err := e.CreateTopic(context.Background(), name, partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	return topic
}

// readAll reads a partition from offset 0 and returns each batch's base
// offset and record count.
func readAll(t *testing.T, e *objectstore.Engine, topic objectstore.Topic, p int32) (bases []int64, counts []int32) {
	t.Helper()
	ctx := context.Background()
	var offset int64
	for {
		res, err := e.Read(ctx, topic, p, offset, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", offset, err)
		}
		if len(res.Records) == 0 {
			return bases, counts
		}
		data := res.Records
		for len(data) > 0 {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(data); err != nil {
				t.Fatal(err)
			}
			size := 12 + int(b.Length)
			if b.FirstOffset >= offset {
				bases = append(bases, b.FirstOffset)
				counts = append(counts, b.NumRecords)
			}
			offset = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			data = data[size:]
		}
	}
}

func TestAppendAssignsContiguousOffsets(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "contiguous", 2)
		var want int64
		for i := 1; i <= 10; i++ {
			res, err := e.Append(ctx, topic, 1, plainBatch(i).encode())
			if err != nil {
				t.Fatal(err)
			}
			if res.BaseOffset != want {
				t.Fatalf("append %d at offset %d, want %d", i, res.BaseOffset, want)
			}
			want += int64(i)
		}
		offs, err := e.Offsets(ctx, topic, 1)
		if err != nil {
			t.Fatal(err)
		}
		if offs.HighWatermark != want || offs.LogStart != 0 {
			t.Fatalf("offsets %+v, want high watermark %d", offs, want)
		}
		// A fresh engine on the same bucket (a restarted broker) sees the
		// same log.
		bases, _ := readAll(t, newEngine(bucket), topic, 1)
		if len(bases) != 10 || bases[9] != want-10 {
			t.Fatalf("restarted engine read bases %v", bases)
		}
	})
}

func TestConcurrentEnginesShareOnePartition(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		engines := []*objectstore.Engine{newEngine(bucket), newEngine(bucket), newEngine(bucket)}
		topic := mustTopic(t, engines[0], "shared", 1)
		const perWriter = 40
		var wg sync.WaitGroup
		errs := make(chan error, len(engines)*2*perWriter)
		for w := range len(engines) * 2 {
			e := engines[w%len(engines)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					spec := batchSpec{records: 3, producerID: int64(w), epoch: 0, sequence: int32(i * 3), timestamp: 1, value: fmt.Sprintf("w%d", w)}
					if _, err := e.Append(ctx, topic, 0, spec.encode()); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		bases, counts := readAll(t, newEngine(bucket), topic, 0)
		var next int64
		for i, base := range bases {
			if base != next {
				t.Fatalf("batch %d at offset %d, want %d: offsets not contiguous", i, base, next)
			}
			next += int64(counts[i])
		}
		if want := int64(len(engines) * 2 * perWriter * 3); next != want {
			t.Fatalf("log holds %d records, want %d", next, want)
		}
	})
}

func TestIdempotentProducer(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "idempotent", 1)
		first := batchSpec{records: 2, producerID: 7, epoch: 0, sequence: 0, timestamp: 1}.encode()
		res, err := e.Append(ctx, topic, 0, first)
		if err != nil {
			t.Fatal(err)
		}
		retry, err := e.Append(ctx, topic, 0, first)
		if err != nil || !retry.Duplicate || retry.BaseOffset != res.BaseOffset {
			t.Fatalf("retry: %+v, %v; want duplicate at %d", retry, err, res.BaseOffset)
		}
		gap := batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 5, timestamp: 1}.encode()
		if _, err := e.Append(ctx, topic, 0, gap); !errors.Is(err, objectstore.ErrOutOfOrderSequence) {
			t.Fatalf("sequence gap: %v, want ErrOutOfOrderSequence", err)
		}
		second := batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 2, timestamp: 1}.encode()
		if _, err := e.Append(ctx, topic, 0, second); err != nil {
			t.Fatal(err)
		}
		// After a restart the retry is still recognised.
		restarted := newEngine(bucket)
		again, err := restarted.Append(ctx, topic, 0, second)
		if err != nil || !again.Duplicate || again.BaseOffset != 2 {
			t.Fatalf("retry after restart: %+v, %v; want duplicate at 2", again, err)
		}
		stale := batchSpec{records: 1, producerID: 7, epoch: -0, sequence: 3, timestamp: 1}
		stale.epoch = 1
		if _, err := restarted.Append(ctx, topic, 0, stale.encode()); !errors.Is(err, objectstore.ErrOutOfOrderSequence) {
			t.Fatalf("new epoch not starting at 0: %v", err)
		}
		bumped := batchSpec{records: 1, producerID: 7, epoch: 1, sequence: 0, timestamp: 1}.encode()
		if _, err := restarted.Append(ctx, topic, 0, bumped); err != nil {
			t.Fatalf("epoch bump: %v", err)
		}
		old := batchSpec{records: 1, producerID: 7, epoch: 0, sequence: 3, timestamp: 1}.encode()
		if _, err := restarted.Append(ctx, topic, 0, old); !errors.Is(err, objectstore.ErrInvalidProducerEpoch) {
			t.Fatalf("fenced epoch: %v, want ErrInvalidProducerEpoch", err)
		}
	})
}

func TestAppendRejectsBadBatches(t *testing.T) {
	t.Parallel()
	good := plainBatch(3).encode()
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 0xff
	oldMagic := append([]byte(nil), good...)
	oldMagic[16] = 1
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"empty", nil, objectstore.ErrCorruptBatch},
		{"truncated header", good[:30], objectstore.ErrCorruptBatch},
		{"truncated body", good[:len(good)-1], objectstore.ErrCorruptBatch},
		{"bad crc", corrupt, objectstore.ErrCorruptBatch},
		{"magic 1", oldMagic, objectstore.ErrUnsupportedMagic},
		{"two batches", append(append([]byte(nil), good...), good...), objectstore.ErrInvalidRecord},
	}
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		e := newEngine(bucket)
		topic := mustTopic(t, e, "bad", 1)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := e.Append(context.Background(), topic, 0, tt.batch); !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
		if _, err := e.Append(context.Background(), topic, 1, good); !errors.Is(err, objectstore.ErrUnknownPartition) {
			t.Fatalf("partition 1 of 1: %v", err)
		}
	})
}

func TestAppendEnforcesMaxMessageBytes(t *testing.T) {
	t.Parallel()
	tiny := plainBatch(1).encode()
	small := batchSpec{records: 1, producerID: -1, epoch: -1, sequence: -1, timestamp: 1000, value: strings.Repeat("s", 100)}.encode()
	big := batchSpec{records: 1, producerID: -1, epoch: -1, sequence: -1, timestamp: 1000, value: strings.Repeat("b", objectstore.DefaultMaxMessageBytes)}.encode()
	limit := func(n int) map[string]string { return map[string]string{"max.message.bytes": strconv.Itoa(n)} }
	tests := []struct {
		name    string
		configs map[string]string
		batch   []byte
		want    error
	}{
		{"at the limit", limit(len(small)), small, nil},
		{"one byte over", limit(len(small) - 1), small, objectstore.ErrMessageTooLarge},
		{"over the default", nil, big, objectstore.ErrMessageTooLarge},
		{"raised limit", limit(2 << 20), big, nil},
	}
	bucket := memory.New()
	e := newEngine(bucket)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			topic, err := e.CreateTopic(ctx, fmt.Sprintf("max-message-bytes-%d", i), 1, tt.configs)
			if err != nil {
				t.Fatal(err)
			}
			// A batch within every limit first, so that a refusal is seen
			// to leave the high watermark where it was.
			if _, err := e.Append(ctx, topic, 0, tiny); err != nil {
				t.Fatalf("append %d bytes: %v", len(tiny), err)
			}
			if _, err := e.Append(ctx, topic, 0, tt.batch); !errors.Is(err, tt.want) {
				t.Fatalf("append %d bytes: %v, want %v", len(tt.batch), err, tt.want)
			}
			want := int64(2)
			if tt.want != nil {
				want = 1
			}
			// A fresh engine loads the partition from the bucket: what it
			// sees is what was stored.
			for name, e := range map[string]*objectstore.Engine{"engine": e, "fresh engine": newEngine(bucket)} {
				offs, err := e.Offsets(ctx, topic, 0)
				if err != nil {
					t.Fatal(err)
				}
				if offs.HighWatermark != want {
					t.Errorf("%s: high watermark %d, want %d", name, offs.HighWatermark, want)
				}
			}
		})
	}
}

func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		// Objects are deleted at once only because this engine's safety
		// window is zero; normally they wait for RetentionSafety.
		e := objectstore.New(bucket, objectstore.Options{RetentionSafety: time.Nanosecond})
		topic := mustTopic(t, e, "trim", 1)
		for range 5 {
			if _, err := e.Append(ctx, topic, 0, plainBatch(10).encode()); err != nil {
				t.Fatal(err)
			}
		}
		low, err := e.DeleteRecords(ctx, topic, 0, 25)
		if err != nil || low != 25 {
			t.Fatalf("delete records: %d, %v", low, err)
		}
		if _, err := e.Read(ctx, topic, 0, 10, 1<<20); !errors.Is(err, objectstore.ErrOffsetOutOfRange) {
			t.Fatalf("read below log start: %v", err)
		}
		res, err := e.Read(ctx, topic, 0, 25, 1<<20)
		if err != nil || len(res.Records) == 0 {
			t.Fatalf("read at log start: %v", err)
		}
		// Another broker sees the new log start, and whole objects below
		// it are gone from the bucket.
		offs, err := newEngine(bucket).Offsets(ctx, topic, 0)
		if err != nil || offs.LogStart != 25 || offs.HighWatermark != 50 {
			t.Fatalf("offsets after delete: %+v, %v", offs, err)
		}
		objs, err := objectstore.ListAll(ctx, bucket, "data/", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 3 {
			t.Fatalf("%d objects left, want 3 (offsets 20-49)", len(objs))
		}
		if _, err := e.DeleteRecords(ctx, topic, 0, 51); !errors.Is(err, objectstore.ErrOffsetOutOfRange) {
			t.Fatalf("delete past the end: %v", err)
		}
	})
}

func TestTopics(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		a, b := newEngine(bucket), newEngine(bucket)
		// Two brokers racing to create one topic: exactly one wins.
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			e := a
			if i%2 == 1 {
				e = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = e.CreateTopic(ctx, "race", 3, nil)
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, objectstore.ErrTopicExists):
				t.Fatal(err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d creates succeeded, want 1", wins)
		}
		for _, name := range []string{"", "..", "bad/name", "spaces are bad", string(make([]byte, 250))} {
			if _, err := a.CreateTopic(ctx, name, 1, nil); !errors.Is(err, objectstore.ErrInvalidTopicName) {
				t.Errorf("topic %q: %v, want ErrInvalidTopicName", name, err)
			}
		}
		if _, err := a.CreateTopic(ctx, "zero", 0, nil); !errors.Is(err, objectstore.ErrInvalidPartitions) {
			t.Errorf("zero partitions: %v", err)
		}
		topic, err := a.Topic(ctx, "race")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Append(ctx, topic, 2, plainBatch(1).encode()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreatePartitions(ctx, "race", 2); !errors.Is(err, objectstore.ErrInvalidPartitions) {
			t.Fatalf("shrinking: %v", err)
		}
		if topic, err = b.CreatePartitions(ctx, "race", 5); err != nil || topic.Partitions != 5 {
			t.Fatalf("grow: %+v %v", topic, err)
		}
		if err := b.DeleteTopic(ctx, "race"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Topic(ctx, "race"); !errors.Is(err, objectstore.ErrUnknownTopic) {
			t.Fatalf("deleted topic: %v", err)
		}
		again := mustTopic(t, b, "race", 3)
		offs, err := b.Offsets(ctx, again, 2)
		if err != nil || offs.HighWatermark != 0 {
			t.Fatalf("recreated topic is not empty: %+v %v", offs, err)
		}
		if objs, _ := objectstore.ListAll(ctx, bucket, "data/"+topic.ID, ""); len(objs) != 0 {
			t.Fatalf("deleted topic left %d objects", len(objs))
		}
	})
}

func TestOffsetForTime(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "times", 1)
		// Batches of 5 records with timestamps 1000..1004, 2000..2004, ...
		for i := 1; i <= 4; i++ {
			spec := plainBatch(5)
			spec.timestamp = int64(i * 1000)
			if _, err := e.Append(ctx, topic, 0, spec.encode()); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			ts, wantOffset, wantTS int64
		}{
			{0, 0, 1000},
			{1000, 0, 1000},
			{1003, 3, 1003},
			{1005, 5, 2000},
			{4004, 19, 4004},
			{4005, -1, -1},
		}
		for _, tt := range tests {
			off, ts, err := e.OffsetForTime(ctx, topic, 0, tt.ts)
			if err != nil || off != tt.wantOffset || ts != tt.wantTS {
				t.Errorf("OffsetForTime(%d) = %d, %d, %v; want %d, %d", tt.ts, off, ts, err, tt.wantOffset, tt.wantTS)
			}
		}
		off, ts, err := e.MaxTimestamp(ctx, topic, 0)
		if err != nil || off != 19 || ts != 4004 {
			t.Errorf("MaxTimestamp = %d, %d, %v", off, ts, err)
		}
	})
}

func TestReadHonoursMaxBytes(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		e := newEngine(bucket)
		topic := mustTopic(t, e, "bytes", 1)
		batch := plainBatch(10).encode()
		for range 10 {
			if _, err := e.Append(ctx, topic, 0, batch); err != nil {
				t.Fatal(err)
			}
		}
		res, err := e.Read(ctx, topic, 0, 0, 1)
		if err != nil || len(res.Records) != len(batch) {
			t.Fatalf("max bytes 1 returned %d bytes (%v), want one whole batch of %d", len(res.Records), err, len(batch))
		}
		res, err = e.Read(ctx, topic, 0, 15, 3*len(batch))
		if err != nil || len(res.Records) != 3*len(batch) {
			t.Fatalf("got %d bytes, want 3 batches", len(res.Records))
		}
		if res.HighWatermark != 100 {
			t.Fatalf("high watermark %d", res.HighWatermark)
		}
		if _, err := e.Read(ctx, topic, 0, 101, 100); !errors.Is(err, objectstore.ErrOffsetOutOfRange) {
			t.Fatalf("read past the end: %v", err)
		}
	})
}

func TestProducerIDsAreUniqueAcrossEngines(t *testing.T) {
	t.Parallel()
	forEachBucket(t, func(t *testing.T, bucket objectstore.Bucket) {
		ctx := context.Background()
		seen := make(map[int64]bool)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 3 {
			e := newEngine(bucket)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 250 {
					id, err := e.NextProducerID(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[id] {
						t.Errorf("producer id %d handed out twice", id)
					}
					seen[id] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	})
}
