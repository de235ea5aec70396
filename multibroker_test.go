package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// End-to-end tests of several siesta processes sharing one MinIO bucket.
// Every client is seeded with one broker only, so each sees a one-broker
// cluster and all coordination between brokers goes through the bucket.

// multiBrokerTimeout bounds each test; a stuck client fails the test rather
// than hanging it.
const multiBrokerTimeout = 40 * time.Second

// startBrokers runs n siesta processes on storage and prints their logs if
// the test fails.
func startBrokers(t *testing.T, storage brokerStorage, n int, extraArgs ...string) []*brokerProcess {
	t.Helper()
	brokers := make([]*brokerProcess, n)
	for i := range brokers {
		brokers[i] = startBrokerProcess(t, storage, extraArgs...)
		dumpLogsOnFailure(t, fmt.Sprintf("broker %d", i), brokers[i])
	}
	return brokers
}

// dumpLogsOnFailure logs a broker's stderr at the end of a failed test.
func dumpLogsOnFailure(t *testing.T, name string, b *brokerProcess) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s (%s) stderr:\n%s", name, b.addr, b.logs())
		}
	})
}

func testTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), multiBrokerTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newClient is a franz-go client that knows only the broker at addr.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(ctx context.Context, t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// newProducer is an idempotent, acks=all client seeded with addr only,
// which sends each record to the partition the record names.
func newProducer(t *testing.T, addr, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, opts...)...)
}

// produceAll sends n records made by mk, all at once, and returns them as
// acknowledged (with their partitions and offsets).
func produceAll(ctx context.Context, cl *kgo.Client, n int, mk func(i int) *kgo.Record) ([]*kgo.Record, error) {
	var (
		mu       sync.Mutex
		acked    []*kgo.Record
		firstErr error
	)
	for i := range n {
		cl.Produce(ctx, mk(i), func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("produce %q to %s/%d: %w", r.Value, r.Topic, r.Partition, err)
				}
				return
			}
			acked = append(acked, r)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return acked, firstErr
}

// readPartition fetches topic/partition from offset 0 straight from the
// broker cl is seeded with, until it has want records or ctx ends. It
// checks the log's shape batch by batch, which franz-go's consumer would
// hide: the first batch starts at 0, each next batch starts right after the
// previous one (no gap, no offset stored twice), and a batch's records have
// the offsets its header claims.
func readPartition(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partition int32, want int) []*kgo.Record {
	t.Helper()
	br := cl.SeedBrokers()[0]
	var (
		records []*kgo.Record
		next    int64
	)
	for int64(len(records)) < int64(want) {
		if ctx.Err() != nil {
			t.Fatalf("%s/%d: read %d of %d records before timing out", topic, partition, len(records), want)
		}
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 500
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = partition
		rp.FetchOffset = next
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := br.Request(ctx, req)
		if err != nil {
			t.Fatalf("%s/%d: fetch at %d: %v", topic, partition, next, err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%s/%d: fetch answered %d topics", topic, partition, len(resp.Topics))
		}
		sp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
			t.Fatalf("%s/%d: fetch at %d: %v", topic, partition, next, err)
		}
		first := true
		for in := sp.RecordBatches; len(in) > 0; first = false {
			if len(in) < 61 { // a record batch header
				t.Fatalf("%s/%d: %d trailing bytes in fetch at %d", topic, partition, len(in), next)
			}
			base := int64(binary.BigEndian.Uint64(in))
			size := int(binary.BigEndian.Uint32(in[8:])) + 12
			if size > len(in) {
				t.Fatalf("%s/%d: batch at %d truncated (%d of %d bytes)", topic, partition, base, len(in), size)
			}
			last := base + int64(int32(binary.BigEndian.Uint32(in[23:])))
			batch := in[:size]
			in = in[size:]
			switch {
			case base > next:
				t.Fatalf("%s/%d: gap: expected offset %d, next batch is [%d, %d]", topic, partition, next, base, last)
			case base < next && !first:
				t.Fatalf("%s/%d: offsets stored twice: batch [%d, %d] after offset %d", topic, partition, base, last, next-1)
			case last < next:
				t.Fatalf("%s/%d: fetch at %d returned batch [%d, %d] that ends before it", topic, partition, next, base, last)
			}
			fp := kmsg.NewFetchResponseTopicPartition()
			fp.Partition, fp.RecordBatches = partition, batch
			got, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: partition}, &fp, kgo.DefaultDecompressor(), nil)
			if got.Err != nil {
				t.Fatalf("%s/%d: batch [%d, %d]: %v", topic, partition, base, last, got.Err)
			}
			if int64(len(got.Records)) != last-base+1 {
				t.Fatalf("%s/%d: batch [%d, %d] holds %d records", topic, partition, base, last, len(got.Records))
			}
			for i, r := range got.Records {
				if r.Offset != base+int64(i) {
					t.Fatalf("%s/%d: batch [%d, %d]: record %d has offset %d", topic, partition, base, last, i, r.Offset)
				}
				if r.Offset >= next {
					records = append(records, r)
				}
			}
			next = last + 1
		}
		if int64(len(records)) > int64(want) {
			t.Fatalf("%s/%d: read %d records, only %d were acknowledged", topic, partition, len(records), want)
		}
	}
	return records
}

// checkEndOffsets asks the broker at addr for topic's end offsets, which
// must equal want at once: ListOffsets looks at the bucket before it
// answers, so it includes what other brokers appended.
func checkEndOffsets(ctx context.Context, t *testing.T, addr, topic string, want map[int32]int64) {
	t.Helper()
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets via %s: %v", addr, err)
	}
	got := make(map[int32]int64)
	ends.Each(func(o kadm.ListedOffset) { got[o.Partition] = o.Offset })
	if !maps.Equal(got, want) {
		t.Fatalf("%s reports end offsets %v, want %v", addr, got, want)
	}
}

func TestThreeBrokersOneBucket(t *testing.T) {
	t.Parallel()
	storage := newS3Storage(t)
	brokers := startBrokers(t, storage, 3)
	ctx := testTimeout(t)
	const (
		topic       = "shared"
		partitions  = 4
		perProducer = 3000
	)
	createTopic(ctx, t, brokers[0].addr, topic, partitions)

	// Three producers, one per broker, race for the tails of the same
	// partitions. Small batches make many objects per partition, and each
	// producer has its producer id and metadata before the race starts.
	producers := make([]*kgo.Client, len(brokers))
	var warm []*kgo.Record
	for b, bp := range brokers {
		producers[b] = newProducer(t, bp.addr, topic, kgo.ProducerBatchMaxBytes(512))
		r := &kgo.Record{Partition: int32(b % partitions), Value: fmt.Appendf(nil, "b%d-warm", b)}
		if err := producers[b].ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce via broker %d: %v", b, err)
		}
		warm = append(warm, r)
	}
	acked := make([][]*kgo.Record, len(brokers))
	var wg sync.WaitGroup
	for b, cl := range producers {
		wg.Go(func() {
			recs, err := produceAll(ctx, cl, perProducer, func(i int) *kgo.Record {
				return &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "b%d-%d", b, i)}
			})
			if err != nil {
				t.Errorf("broker %d: %v", b, err)
			}
			acked[b] = recs
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// What each partition must hold: every acknowledged record, at the
	// offset it was acknowledged with.
	byOffset := make(map[int32]map[int64]string)
	total := len(warm)
	for b, recs := range acked {
		if len(recs) != perProducer {
			t.Fatalf("producer %d: %d of %d records acknowledged", b, len(recs), perProducer)
		}
		total += len(recs)
		for _, r := range append(recs, warm[b]) {
			if byOffset[r.Partition] == nil {
				byOffset[r.Partition] = make(map[int64]string)
			}
			if prev, ok := byOffset[r.Partition][r.Offset]; ok {
				t.Errorf("%s/%d offset %d acknowledged for both %q and %s", topic, r.Partition, r.Offset, prev, r.Value)
			}
			byOffset[r.Partition][r.Offset] = string(r.Value)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	counts := make(map[int32]int64)
	for p := range int32(partitions) {
		counts[p] = int64(len(byOffset[p]))
	}

	// Each partition is read through a broker, including ones that did not
	// write its newest objects.
	seen := make(map[string]bool)
	for p := range int32(partitions) {
		b := brokers[(int(p)+1)%len(brokers)]
		records := readPartition(ctx, t, newClient(t, b.addr), topic, p, int(counts[p]))
		// How often the writer changes along the log shows that the
		// producers really raced for the tail.
		switches := 0
		for i := 1; i < len(records); i++ {
			if records[i].Value[1] != records[i-1].Value[1] {
				switches++
			}
		}
		t.Logf("%s/%d: %d records read via %s, the writing broker changes %d times", topic, p, len(records), b.addr, switches)
		for _, r := range records {
			v := string(r.Value)
			if seen[v] {
				t.Errorf("%q stored twice (again at %s/%d offset %d)", v, topic, p, r.Offset)
			}
			seen[v] = true
			if want := byOffset[p][r.Offset]; v != want {
				t.Errorf("%s/%d offset %d holds %q, acknowledged %q", topic, p, r.Offset, v, want)
			}
		}
	}
	if len(seen) != total {
		t.Errorf("read %d distinct records, want %d", len(seen), total)
	}
	for _, b := range brokers {
		checkEndOffsets(ctx, t, b.addr, topic, counts)
	}
}

// groupConsumer is a franz-go group member that records what it read in
// which generation.
type groupConsumer struct {
	name  string
	cl    *kgo.Client
	mu    sync.Mutex
	reads []groupRead
}

type groupRead struct {
	value     string
	member    string
	gen       int32
	partition int32
	offset    int64
}

// generations checks that no generation gives a partition to two members.
type generations struct {
	t      *testing.T
	mu     sync.Mutex
	owners map[int32]map[int32]string // generation -> partition -> member
}

func (g *generations) assigned(member string, gen int32, partitions []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owners == nil {
		g.owners = make(map[int32]map[int32]string)
	}
	if g.owners[gen] == nil {
		g.owners[gen] = make(map[int32]string)
	}
	for _, p := range partitions {
		if prev, ok := g.owners[gen][p]; ok && prev != member {
			g.t.Errorf("generation %d: partition %d assigned to both %s and %s", gen, p, prev, member)
		}
		g.owners[gen][p] = member
	}
}

// split reports whether some generation gave partitions to two members.
func (g *generations) split() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, parts := range g.owners {
		members := make(map[string]bool)
		for _, m := range parts {
			members[m] = true
		}
		if len(members) >= 2 {
			return true
		}
	}
	return false
}

func (g *generations) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprint(g.owners)
}

func newGroupConsumer(t *testing.T, addr, group, topic, name string, gens *generations) *groupConsumer {
	t.Helper()
	c := &groupConsumer{name: name}
	c.cl = newClient(t, addr,
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(300*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		// Eager: each assignment lists all of the member's partitions.
		kgo.Balancers(kgo.RangeBalancer()),
		// No rebalance between a poll and AllowRebalance, so the
		// generation read after a poll is the one its records were
		// fetched in.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
			_, gen := cl.GroupMetadata()
			gens.assigned(name, gen, assigned[topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
		}),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(500*time.Millisecond),
	)
	return c
}

// poll reads once, for at most 200ms, and marks what it read for commit.
func (c *groupConsumer) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	fs := c.cl.PollFetches(pctx)
	defer c.cl.AllowRebalance()
	_, gen := c.cl.GroupMetadata()
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) {
		c.reads = append(c.reads, groupRead{value: string(r.Value), member: c.name, gen: gen, partition: r.Partition, offset: r.Offset})
	})
	c.cl.MarkCommitRecords(fs.Records()...)
}

func (c *groupConsumer) read() []groupRead {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reads)
}

// readsByValue groups the members' reads by record value.
func readsByValue(members ...*groupConsumer) map[string][]groupRead {
	m := make(map[string][]groupRead)
	for _, c := range members {
		for _, r := range c.read() {
			m[r.value] = append(m[r.value], r)
		}
	}
	return m
}

func TestConsumerGroupAcrossBrokers(t *testing.T) {
	t.Parallel()
	storage := newS3Storage(t)
	brokers := startBrokers(t, storage, 3)
	ctx := testTimeout(t)
	const (
		topic, group = "grouped", "across"
		partitions   = 6
		batch        = 600
	)
	createTopic(ctx, t, brokers[0].addr, topic, partitions)
	producer := newProducer(t, brokers[2].addr, topic)
	produce := func(prefix string, n int) {
		t.Helper()
		_, err := produceAll(ctx, producer, n, func(i int) *kgo.Record {
			return &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	produce("first", batch)

	gens := &generations{t: t}
	a := newGroupConsumer(t, brokers[0].addr, group, topic, "a", gens)
	for len(a.read()) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("member a read nothing; generations %v", gens)
		}
		a.poll(ctx)
	}
	b := newGroupConsumer(t, brokers[1].addr, group, topic, "b", gens)
	for !gens.split() {
		if ctx.Err() != nil {
			t.Fatalf("no generation gave partitions to both members: %v", gens)
		}
		a.poll(ctx)
		b.poll(ctx)
	}
	produce("second", batch)
	for len(readsByValue(a, b)) < 2*batch {
		if ctx.Err() != nil {
			t.Fatalf("the group read %d of %d records; generations %v", len(readsByValue(a, b)), 2*batch, gens)
		}
		a.poll(ctx)
		b.poll(ctx)
	}

	// Whoever owns a partition now may have started it from a commit older
	// than what another member read: poll on until the group's commits
	// reach the end of every partition.
	adm := kadm.NewClient(newClient(t, brokers[2].addr))
	for {
		if ctx.Err() != nil {
			t.Fatalf("the group's commits never reached the end of the log; generations %v", gens)
		}
		a.poll(ctx)
		b.poll(ctx)
		for _, c := range []*groupConsumer{a, b} {
			if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
				t.Logf("%s: commit: %v", c.name, err)
			}
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetch offsets: %v", err)
		}
		var total int64
		committed.Each(func(o kadm.OffsetResponse) { total += o.At })
		if total == 2*batch {
			break
		}
	}
	a.cl.Close()
	b.cl.Close()

	dups := 0
	for v, reads := range readsByValue(a, b) {
		dups += len(reads) - 1
		for i, r := range reads {
			for _, prev := range reads[:i] {
				if prev.gen == r.gen {
					t.Errorf("%q read twice in generation %d: by %s at %d/%d and by %s at %d/%d",
						v, r.gen, prev.member, prev.partition, prev.offset, r.member, r.partition, r.offset)
				}
			}
		}
	}

	t.Logf("generations (partition -> member): %v; %d records read again after a rebalance", gens, dups)

	// A new member on the third broker resumes from the commits: it reads
	// exactly the records produced since.
	produce("third", 60)
	c := newGroupConsumer(t, brokers[2].addr, group, topic, "c", gens)
	for len(c.read()) < 60 {
		if ctx.Err() != nil {
			t.Fatalf("member c read %d of 60 new records", len(c.read()))
		}
		c.poll(ctx)
	}
	c.poll(ctx) // anything beyond the new records would show up now
	got := make(map[string]bool)
	for _, r := range c.read() {
		if !strings.HasPrefix(r.value, "third-") {
			t.Errorf("member c read %q (%d/%d), which was committed before it joined", r.value, r.partition, r.offset)
		}
		if got[r.value] {
			t.Errorf("member c read %q twice", r.value)
		}
		got[r.value] = true
	}
	if len(got) != 60 {
		t.Errorf("member c read %d distinct new records, want 60", len(got))
	}
}

func TestFreshBrokerReadsEverything(t *testing.T) {
	t.Parallel()
	storage := newS3Storage(t)
	first := startBrokerProcess(t, storage)
	dumpLogsOnFailure(t, "first broker", first)
	ctx := testTimeout(t)
	const (
		topic      = "demo"
		partitions = 3
		n          = 1000
	)
	createTopic(ctx, t, first.addr, topic, partitions)
	// Small batches: each partition is several objects.
	acked, err := produceAll(ctx, newProducer(t, first.addr, topic, kgo.ProducerBatchMaxBytes(4<<10)), n, func(i int) *kgo.Record {
		return &kgo.Record{
			Partition: int32(i % partitions),
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("x", i%100)),
			Headers: []kgo.RecordHeader{
				{Key: "index", Value: fmt.Appendf(nil, "%d", i)},
				{Key: "empty"},
			},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(acked) != n {
		t.Fatalf("%d of %d records acknowledged", len(acked), n)
	}
	first.stop()

	// A new process, on another port, knows the bucket and nothing else.
	fresh := startBrokerProcess(t, storage)
	dumpLogsOnFailure(t, "fresh broker", fresh)
	if fresh.addr == first.addr {
		t.Fatalf("fresh broker reuses %s", first.addr)
	}
	adm := kadm.NewClient(newClient(t, fresh.addr))
	details, err := adm.ListTopics(ctx, topic)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		t.Fatalf("fresh broker: describe %s: %v", topic, err)
	}
	if got := len(details[topic].Partitions); got != partitions {
		t.Fatalf("fresh broker sees %d partitions, want %d", got, partitions)
	}

	cl := newClient(t, fresh.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	type at struct {
		partition int32
		offset    int64
	}
	got := make(map[at]*kgo.Record)
	for len(got) < n {
		if ctx.Err() != nil {
			t.Fatalf("fresh broker served %d of %d records", len(got), n)
		}
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k := at{r.Partition, r.Offset}
			if _, dup := got[k]; dup {
				t.Errorf("%d/%d served twice", r.Partition, r.Offset)
			}
			got[k] = r
		})
	}
	for _, want := range acked {
		r, ok := got[at{want.Partition, want.Offset}]
		switch {
		case !ok:
			t.Errorf("%d/%d (%s) missing", want.Partition, want.Offset, want.Key)
		case string(r.Key) != string(want.Key) || string(r.Value) != string(want.Value):
			t.Errorf("%d/%d holds %s=%s, want %s=%s", want.Partition, want.Offset, r.Key, r.Value, want.Key, want.Value)
		case !slices.EqualFunc(r.Headers, want.Headers, func(a, b kgo.RecordHeader) bool {
			return a.Key == b.Key && string(a.Value) == string(b.Value)
		}):
			t.Errorf("%d/%d headers %v, want %v", want.Partition, want.Offset, r.Headers, want.Headers)
		case !r.Timestamp.Equal(want.Timestamp.Truncate(time.Millisecond)):
			t.Errorf("%d/%d timestamp %v, want %v", want.Partition, want.Offset, r.Timestamp, want.Timestamp)
		}
	}
	counts := make(map[int32]int64)
	for _, r := range acked {
		counts[r.Partition]++
	}
	checkEndOffsets(ctx, t, fresh.addr, topic, counts)
}
