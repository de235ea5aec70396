package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/objectstore"
	objs3 "github.com/siestamq/siesta/objectstore/s3"
)

// TestAcknowledgedRecordsSurviveSIGKILL runs two brokers on one bucket and
// SIGKILLs one of them at random moments while idempotent producers, each
// able to fail over to the other broker, keep producing. Every record a
// producer saw acknowledged must be in the log afterwards, once, at the
// offset it was acknowledged with, and the log must have no gap and no
// offset twice.
func TestAcknowledgedRecordsSurviveSIGKILL(t *testing.T) {
	const (
		partitions = 4
		producers  = 3
		rounds     = 25
	)
	storage := newS3Storage(t)
	brokers := []*brokerProcess{
		startBrokerProcess(t, storage, "--node-id", "1"),
		startBrokerProcess(t, storage, "--node-id", "2"),
	}
	seeds := []string{brokers[0].addr, brokers[1].addr}
	const topic = "chaos"
	createTopicVia(t, seeds, topic, partitions)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	acks := newAckLog()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() { produceUnique(ctx, t, stop, seeds, topic, partitions, fmt.Sprintf("p%d", i), acks) })
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	start := time.Now()
	for round := range rounds {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		victim := rng.IntN(len(brokers))
		before := acks.count()
		brokers[victim].kill()
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		brokers[victim].start()
		t.Logf("round %d: killed broker %d, %d records acknowledged so far", round, victim+1, before)
	}
	// A quiet second with both brokers up, so that every producer ends
	// with acknowledged records after the last kill.
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("chaos: %d rounds in %v; %d records acknowledged, %d failed (%v)",
		rounds, time.Since(start).Round(time.Millisecond), acks.count(), acks.failedCount(), acks.failures())
	if acks.count() < 1000 {
		t.Errorf("only %d records acknowledged during the chaos", acks.count())
	}

	hwm := verifyAckedLog(t, seeds, topic, partitions, acks, true)
	verifyStoredObjects(t, storage, topic, hwm)
	if t.Failed() {
		t.Logf("producer-id events the clients logged:\n%s", acks.events())
		for i, b := range brokers {
			t.Logf("broker %d logs (current process):\n%s", i+1, b.logs())
		}
	}
}

// ackedRecord is where a producer was told its record went.
type ackedRecord struct {
	partition int32
	offset    int64
}

// ackLog collects what producers were told.
type ackLog struct {
	mu     sync.Mutex
	acked  map[string]ackedRecord
	failed map[string]int // error text to count
	n      atomic.Int64
	log    []string // the clients' log lines about their producer ids
}

// Log is a kgo.Logger keeping the lines that say a producer id was failed
// or reset: each one means batches were renumbered, the usual start of a
// duplicate.
func (l *ackLog) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *ackLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if !strings.Contains(msg, "producer") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, fmt.Sprint(time.Now().Format("15:04:05.000 "), msg, keyvals))
}

func (l *ackLog) events() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.log, "\n")
}

func newAckLog() *ackLog {
	return &ackLog{acked: make(map[string]ackedRecord), failed: make(map[string]int)}
}

func (l *ackLog) done(r *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		l.failed[msg]++
		return
	}
	l.acked[string(r.Value)] = ackedRecord{partition: r.Partition, offset: r.Offset}
	l.n.Add(1)
}

func (l *ackLog) count() int64 { return l.n.Load() }

func (l *ackLog) failedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.failed {
		n += c
	}
	return n
}

func (l *ackLog) failures() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.failed)
}

func (l *ackLog) snapshot() map[string]ackedRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// createTopicVia creates topic through the first broker that answers.
func createTopicVia(t *testing.T, seeds []string, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// ackedProducerOpts are an idempotent, acks=all producer that retries for as
// long as its records' context allows and finds the other broker when one
// goes away.
func ackedProducerOpts(seeds []string, topic string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(math.MaxInt),
		kgo.RequestRetries(1000),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProduceRequestTimeout(5 * time.Second),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(500),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
}

// produceUnique produces unique values round-robin to every partition until
// stop is closed, then waits for every record's outcome.
func produceUnique(ctx context.Context, t *testing.T, stop <-chan struct{}, seeds []string, topic string, partitions int32, tag string, acks *ackLog) {
	cl, err := kgo.NewClient(append(ackedProducerOpts(seeds, topic), kgo.WithLogger(acks))...)
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for i := 0; ; i++ {
		select {
		case <-stop:
		case <-ctx.Done():
		default:
			r := &kgo.Record{Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%s-%d", tag, i)}
			cl.Produce(ctx, r, acks.done)
			continue
		}
		break
	}
	flushCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		t.Errorf("producer %s: flush: %v (%d records still buffered)", tag, err, cl.BufferedProduceRecords())
	}
}

// verifyAckedLog reads every partition from offset 0 to its high watermark and
// checks the log against what producers were told: every acknowledged
// value is present at the offset it was acknowledged with, and offsets run
// from 0 without a gap or a repeat. With idempotent producers no value may
// appear twice. It returns each partition's high watermark.
func verifyAckedLog(t *testing.T, seeds []string, topic string, partitions int32, acks *ackLog, idempotent bool) map[int32]int64 {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// ListOffsets looks at the bucket first, so every broker must report
	// the same high watermarks at once.
	hwm := make(map[int32]int64)
	offsets := make(map[int32]kgo.Offset)
	for _, seed := range seeds {
		ends := listEndOffsets(ctx, t, seed, topic)
		if len(ends) != int(partitions) {
			t.Fatalf("%s: end offsets for %d partitions, want %d", seed, len(ends), partitions)
		}
		if len(hwm) > 0 && fmt.Sprint(ends) != fmt.Sprint(hwm) {
			t.Errorf("brokers disagree on high watermarks: %v and %v", hwm, ends)
		}
		for p, end := range ends {
			hwm[p] = max(hwm[p], end)
			offsets[p] = kgo.NewOffset().At(0)
		}
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := make(map[int32]int64)           // next offset expected, per partition
	found := make(map[string][]ackedRecord) // value to where it is
	problems := 0
	report := func(format string, args ...any) {
		problems++
		if problems <= 20 {
			t.Errorf(format, args...)
		}
	}
	remaining := func() bool {
		for p, end := range hwm {
			if next[p] < end {
				return true
			}
		}
		return false
	}
	for remaining() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming: %v; reached %v of %v", ctx.Err(), next, hwm)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Logf("fetch %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				report("partition %d: offset %d follows %d", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			found[string(r.Value)] = append(found[string(r.Value)], ackedRecord{r.Partition, r.Offset})
		})
	}
	for p, end := range hwm {
		if next[p] != end {
			report("partition %d: read to offset %d, high watermark is %d", p, next[p], end)
		}
	}

	acked := acks.snapshot()
	lost, moved, dups, unacked := 0, 0, 0, 0
	for v, a := range acked {
		at := found[v]
		switch {
		case len(at) == 0:
			lost++
			report("acknowledged %q (partition %d offset %d) is missing", v, a.partition, a.offset)
		case at[0] != a:
			moved++
			report("acknowledged %q at partition %d offset %d, found at %v", v, a.partition, a.offset, at)
		}
	}
	for v, at := range found {
		if len(at) > 1 {
			dups++
			if idempotent {
				report("%q appears %d times: %v", v, len(at), at)
			}
		}
		if _, ok := acked[v]; !ok {
			unacked++
		}
	}
	var total int64
	for _, end := range hwm {
		total += end
	}
	t.Logf("verified %d records in %d partitions in %v: %d acknowledged, %d lost, %d at another offset, %d duplicated values, %d stored but not acknowledged",
		total, len(hwm), time.Since(start).Round(time.Millisecond), len(acked), lost, moved, dups, unacked)
	return hwm
}

// listEndOffsets asks one broker for topic's high watermarks.
func listEndOffsets(ctx context.Context, t *testing.T, broker, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("%s: list end offsets: %v", broker, err)
	}
	m := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
	return m
}

// verifyStoredObjects reads the topic's objects straight from the bucket: each
// object's key is the base offset of its first batch, its batches are
// contiguous, each object starts where the previous one ended, and the last
// one ends at the high watermark. This catches overlapping objects that a
// client's fetch would hide by skipping offsets it already has.
func verifyStoredObjects(t *testing.T, storage brokerStorage, topic string, hwm map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket := openStorageBucket(t, storage)
	engine := objectstore.New(bucket, objectstore.Options{})
	defer engine.Close()
	tp, err := engine.Topic(ctx, topic)
	if err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
	parts := make([]int32, 0, len(hwm))
	for p := range hwm {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		prefix := fmt.Sprintf("data/%s/%d/", tp.ID, p)
		objs, err := objectstore.ListAll(ctx, bucket, prefix, "")
		if err != nil {
			t.Fatal(err)
		}
		var next int64
		for _, o := range objs {
			base, err := objectKeyOffset(strings.TrimPrefix(o.Key, prefix))
			if err != nil {
				t.Errorf("%s: %v", o.Key, err)
				continue
			}
			if base != next {
				t.Errorf("partition %d: object %d follows an object ending at %d", p, base, next)
			}
			obj, err := bucket.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			end, err := objectBatchesEnd(obj.Data, base)
			if err != nil {
				t.Errorf("%s: %v", o.Key, err)
				continue
			}
			next = end
		}
		if next != hwm[p] {
			t.Errorf("partition %d: objects end at %d, high watermark is %d", p, next, hwm[p])
		}
		t.Logf("partition %d: %d objects, offsets [0, %d)", p, len(objs), next)
	}
}

func objectKeyOffset(s string) (int64, error) {
	var n int64
	if len(s) != 20 {
		return 0, fmt.Errorf("not a 20-digit offset")
	}
	_, err := fmt.Sscanf(s, "%d", &n)
	return n, err
}

// objectBatchesEnd walks an object's record batches, checking that they are
// contiguous from base, and returns the offset after the last record.
func objectBatchesEnd(data []byte, base int64) (int64, error) {
	next := base
	for len(data) > 0 {
		if len(data) < 61 {
			return 0, fmt.Errorf("truncated batch header at offset %d", next)
		}
		batchBase := int64(binary.BigEndian.Uint64(data[0:8]))
		size := 12 + int(binary.BigEndian.Uint32(data[8:12]))
		lastDelta := int64(int32(binary.BigEndian.Uint32(data[23:27])))
		if batchBase != next {
			return 0, fmt.Errorf("batch at %d follows a batch ending at %d", batchBase, next)
		}
		if size > len(data) {
			return 0, fmt.Errorf("batch at %d is truncated", batchBase)
		}
		next = batchBase + lastDelta + 1
		data = data[size:]
	}
	if next == base {
		return 0, fmt.Errorf("empty object")
	}
	return next, nil
}

// openStorageBucket opens storage's bucket in this process, for checks that must
// not go through a broker.
func openStorageBucket(t *testing.T, storage brokerStorage) objectstore.Bucket {
	t.Helper()
	opts, err := objs3.ParseURL(storage.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range storage.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "AWS_ACCESS_KEY_ID":
			opts.AccessKeyID = v
		case "AWS_SECRET_ACCESS_KEY":
			opts.SecretAccessKey = v
		}
	}
	b, err := objs3.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
