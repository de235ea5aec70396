package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// End-to-end tests with IBM/sarama. sarama does not negotiate request
// versions: it picks them from Config.Version, so each Kafka version in a
// table exercises a different set of request versions against siesta.

// saramaVersions are the Kafka versions sarama is told the broker speaks.
// 2.1 is the first with zstd; 2.8 moves Produce to v9 (flexible) and Fetch to
// v12; 3.6 moves the group APIs to KIP-394 member ids and newer commits.
var saramaVersions = []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V2_8_0_0, sarama.V3_6_0_0}

// saramaConfig is a sarama configuration for a test broker at version v:
// fast retries, producer results returned, and group timings short enough
// for a test.
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "siesta-sarama-test"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cfg.Admin.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func saramaSyncProducer(t *testing.T, b *testBroker, cfg *sarama.Config) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close sarama producer: %v", err)
		}
	})
	return p
}

// saramaTopic makes a topic name from a test-specific prefix and a version.
func saramaTopic(prefix string, v sarama.KafkaVersion, suffix string) string {
	return prefix + "-" + strings.ReplaceAll(v.String(), ".", "_") + "-" + suffix
}

func TestSaramaProduceConsume(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	type producerCase struct {
		name       string
		codec      sarama.CompressionCodec
		idempotent bool
	}
	var cases []producerCase
	for _, codec := range []sarama.CompressionCodec{
		sarama.CompressionNone,
		sarama.CompressionGZIP,
		sarama.CompressionSnappy,
		sarama.CompressionLZ4,
		sarama.CompressionZSTD,
	} {
		cases = append(cases, producerCase{codec.String(), codec, false})
	}
	cases = append(cases, producerCase{"idempotent", sarama.CompressionSnappy, true})
	for _, v := range saramaVersions {
		for _, c := range cases {
			t.Run(v.String()+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				testSaramaProduceConsume(t, b, v, c.name, c.codec, c.idempotent)
			})
		}
	}
}

func testSaramaProduceConsume(t *testing.T, b *testBroker, v sarama.KafkaVersion, name string, codec sarama.CompressionCodec, idempotent bool) {
	topic := saramaTopic("sarama", v, name)
	cfg := saramaConfig(v)
	if idempotent {
		// InitProducerId, then sequence numbers in every batch.
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	cfg.Producer.Compression = codec
	// Hold messages until the whole slice is queued, so they travel as
	// multi-record (and, with a codec, compressed) batches.
	cfg.Producer.Flush.Frequency = 20 * time.Millisecond
	p := saramaSyncProducer(t, b, cfg)

	const n = 50
	ts := time.UnixMilli(1_700_000_000_000)
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value: sarama.StringEncoder(strings.Repeat(fmt.Sprintf("value-%d ", i), 10)),
			Headers: []sarama.RecordHeader{
				{Key: []byte("i"), Value: []byte(fmt.Sprint(i))},
				{Key: []byte("codec"), Value: []byte(codec.String())},
			},
			Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
		}
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("send messages: %v", err)
	}
	// One more through SendMessage, whose answer carries the offset.
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("last"), Timestamp: ts})
	if err != nil {
		t.Fatalf("send message: %v", err)
	}
	if part != 0 || off != n {
		t.Fatalf("last message at %d/%d, want 0/%d", part, off, n)
	}
	byOffset := make(map[int64]int, n)
	for i, m := range msgs {
		if m.Partition != 0 {
			t.Fatalf("message %d went to partition %d", i, m.Partition)
		}
		byOffset[m.Offset] = i
	}
	for o := range int64(n) {
		if _, ok := byOffset[o]; !ok {
			t.Fatalf("no message was given offset %d: %v", o, byOffset)
		}
	}

	client, err := sarama.NewClient([]string{b.addr}, cfg)
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	defer client.Close()
	if o, err := client.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || o != 0 {
		t.Fatalf("oldest offset = %d, %v; want 0", o, err)
	}
	if o, err := client.GetOffset(topic, 0, sarama.OffsetNewest); err != nil || o != n+1 {
		t.Fatalf("newest offset = %d, %v; want %d", o, err, n+1)
	}
	// By time: the first message stamped at or after message 10.
	if o, err := client.GetOffset(topic, 0, msgs[10].Timestamp.UnixMilli()); err != nil || o != msgs[10].Offset {
		t.Fatalf("offset for message 10's time = %d, %v; want %d", o, err, msgs[10].Offset)
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume partition: %v", err)
	}
	defer pc.Close()
	timeout := time.After(10 * time.Second)
	for o := range int64(n + 1) {
		var m *sarama.ConsumerMessage
		select {
		case m = <-pc.Messages():
		case err := <-pc.Errors():
			t.Fatalf("consume at offset %d: %v", o, err)
		case <-timeout:
			t.Fatalf("timed out waiting for offset %d", o)
		}
		if m.Offset != o {
			t.Fatalf("got offset %d, want %d", m.Offset, o)
		}
		if o == n {
			if string(m.Value) != "last" {
				t.Errorf("offset %d: value %q, want %q", o, m.Value, "last")
			}
			continue
		}
		want := msgs[byOffset[o]]
		i := byOffset[o]
		if got, want := string(m.Key), fmt.Sprintf("key-%d", i); got != want {
			t.Errorf("offset %d: key %q, want %q", o, got, want)
		}
		if wantValue, _ := want.Value.Encode(); string(m.Value) != string(wantValue) {
			t.Errorf("offset %d: value %q, want %q", o, m.Value, wantValue)
		}
		if !m.Timestamp.Equal(want.Timestamp) {
			t.Errorf("offset %d: timestamp %v, want %v", o, m.Timestamp, want.Timestamp)
		}
		if len(m.Headers) != len(want.Headers) {
			t.Fatalf("offset %d: %d headers, want %d", o, len(m.Headers), len(want.Headers))
		}
		for j, h := range m.Headers {
			if string(h.Key) != string(want.Headers[j].Key) || string(h.Value) != string(want.Headers[j].Value) {
				t.Errorf("offset %d: header %d is %s=%s, want %s=%s", o, j, h.Key, h.Value, want.Headers[j].Key, want.Headers[j].Value)
			}
		}
	}
	// The consumer now long-polls at the end of the log; those empty
	// answers must decode too.
	select {
	case err := <-pc.Errors():
		t.Fatalf("fetch at the end of the log: %v", err)
	case m := <-pc.Messages():
		t.Fatalf("unexpected message at offset %d", m.Offset)
	case <-time.After(3 * cfg.Consumer.MaxWaitTime):
	}
}

// groupRecorder records what the members of a sarama consumer group claim
// and consume, and flags a partition held by two members at once.
type groupRecorder struct {
	mu       sync.Mutex
	owners   map[int32]map[int32]string // generation -> partition -> member
	active   map[int32]string           // partition -> member with a live session
	consumed map[string][]string        // value -> members that consumed it
	errs     []string
}

func newGroupRecorder() *groupRecorder {
	return &groupRecorder{
		owners:   make(map[int32]map[int32]string),
		active:   make(map[int32]string),
		consumed: make(map[string][]string),
	}
}

func (r *groupRecorder) setup(member string, generation int32, partitions []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := r.owners[generation]
	if gen == nil {
		gen = make(map[int32]string)
		r.owners[generation] = gen
	}
	for _, p := range partitions {
		if other, ok := gen[p]; ok && other != member {
			r.errs = append(r.errs, fmt.Sprintf("generation %d: partition %d claimed by %s and %s", generation, p, other, member))
		}
		gen[p] = member
		if other, ok := r.active[p]; ok && other != member {
			r.errs = append(r.errs, fmt.Sprintf("generation %d: %s claimed partition %d while %s still held it", generation, member, p, other))
		}
		r.active[p] = member
	}
}

func (r *groupRecorder) cleanup(member string, partitions []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range partitions {
		if r.active[p] == member {
			delete(r.active, p)
		}
	}
}

func (r *groupRecorder) consume(member string, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.consumed[value] = append(r.consumed[value], member)
}

// holds reports whether some generation has every one of members holding
// at least one partition and all partitions claimed.
func (r *groupRecorder) holds(partitions int, members ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, gen := range r.owners {
		if len(gen) != partitions {
			continue
		}
		have := make(map[string]bool)
		for _, m := range gen {
			have[m] = true
		}
		if len(have) == len(members) && !slices.ContainsFunc(members, func(m string) bool { return !have[m] }) {
			return true
		}
	}
	return false
}

func (r *groupRecorder) count(values []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range values {
		if len(r.consumed[v]) > 0 {
			n++
		}
	}
	return n
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// saramaMember is a consumer group handler that reports to a recorder and
// marks every message it consumes.
type saramaMember struct {
	name  string
	topic string
	rec   *groupRecorder
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.rec.setup(m.name, s.GenerationID(), s.Claims()[m.topic])
	return nil
}

func (m *saramaMember) Cleanup(s sarama.ConsumerGroupSession) error {
	m.rec.cleanup(m.name, s.Claims()[m.topic])
	return nil
}

func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			m.rec.consume(m.name, string(msg.Value))
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// runSaramaMember starts a consumer group member that consumes until the
// returned stop function is called; stop leaves the group and returns once
// the member's goroutines are done.
func runSaramaMember(t *testing.T, b *testBroker, cfg *sarama.Config, group string, m *saramaMember) (stop func()) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{b.addr}, group, cfg)
	if err != nil {
		t.Fatalf("consumer group %s: %v", m.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{m.topic}, m); err != nil {
				if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return // stopping
				}
				m.rec.mu.Lock()
				m.rec.errs = append(m.rec.errs, fmt.Sprintf("%s: consume: %v", m.name, err))
				m.rec.mu.Unlock()
				return
			}
		}
	}()
	// Errors while the member runs fail the test; errors while it stops
	// (a fetch cut short by the closing client) are only logged.
	errs, stopErrs := make(chan []error, 1), make(chan []error, 1)
	go func() {
		defer wg.Done()
		var running, stopping []error
		for err := range cg.Errors() { // closed by cg.Close
			if ctx.Err() == nil {
				running = append(running, err)
			} else {
				stopping = append(stopping, err)
			}
		}
		errs <- running
		stopErrs <- stopping
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := cg.Close(); err != nil {
				t.Errorf("close %s: %v", m.name, err)
			}
			wg.Wait()
			for _, err := range <-errs {
				t.Errorf("%s: group error: %v", m.name, err)
			}
			for _, err := range <-stopErrs {
				t.Logf("%s: group error while stopping: %v", m.name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestSaramaConsumerGroup(t *testing.T) {
	t.Parallel()
	const partitions = 4
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = partitions })
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V3_6_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			testSaramaConsumerGroup(t, b, v, partitions)
		})
	}
}

func testSaramaConsumerGroup(t *testing.T, b *testBroker, v sarama.KafkaVersion, partitions int) {
	topic := saramaTopic("sarama-group", v, "t")
	group := saramaTopic("sarama-group", v, "g")
	cfg := saramaConfig(v)
	pcfg := saramaConfig(v)
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	p := saramaSyncProducer(t, b, pcfg)
	produce := func(phase string, n int) []string {
		t.Helper()
		msgs := make([]*sarama.ProducerMessage, n)
		values := make([]string, n)
		for i := range msgs {
			values[i] = fmt.Sprintf("%s-%d", phase, i)
			msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions), Value: sarama.StringEncoder(values[i])}
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("produce %s: %v", phase, err)
		}
		return values
	}
	rec := newGroupRecorder()

	// One member consumes what is there, then a second joins and the
	// partitions are split between them.
	first := produce("first", 40)
	stopA := runSaramaMember(t, b, cfg, group, &saramaMember{name: "a", topic: topic, rec: rec})
	waitUntil(t, 10*time.Second, "member a to consume the first messages", func() bool { return rec.count(first) == len(first) })
	stopB := runSaramaMember(t, b, cfg, group, &saramaMember{name: "b", topic: topic, rec: rec})
	waitUntil(t, 10*time.Second, "a generation with a and b sharing all partitions", func() bool { return rec.holds(partitions, "a", "b") })
	second := produce("second", 40)
	waitUntil(t, 10*time.Second, "the second messages", func() bool { return rec.count(second) == len(second) })
	stopA()
	stopB()

	rec.mu.Lock()
	for _, v := range append(first, second...) {
		if by := rec.consumed[v]; len(by) != 1 {
			t.Errorf("%s consumed by %v, want exactly once", v, by)
		}
	}
	rec.mu.Unlock()

	// Both left having committed everything: the group is empty and its
	// offsets are the end of every partition.
	admin, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()
	perPartition := int64(len(first)+len(second)) / int64(partitions)
	checkSaramaCommits(t, admin, group, topic, partitions, perPartition)
	if desc, err := admin.DescribeConsumerGroups([]string{group}); err != nil || len(desc) != 1 || desc[0].State != "Empty" || len(desc[0].Members) != 0 {
		t.Errorf("describe group after both left = %+v, %v; want Empty without members", desc, err)
	}

	// A new member of the same group starts from the committed offsets and
	// sees only what is produced now.
	third := produce("third", 8)
	stopC := runSaramaMember(t, b, cfg, group, &saramaMember{name: "c", topic: topic, rec: rec})
	waitUntil(t, 10*time.Second, "member c to consume the third messages", func() bool { return rec.count(third) == len(third) })
	stopC()
	checkSaramaCommits(t, admin, group, topic, partitions, perPartition+int64(len(third)/partitions))

	if groups, err := admin.ListConsumerGroups(); err != nil || groups[group] != "consumer" {
		t.Errorf("list groups = %v, %v; want %s of type consumer", groups, err, group)
	}
	if err := admin.DeleteConsumerGroup(group); err != nil {
		t.Errorf("delete group: %v", err)
	}
	if groups, err := admin.ListConsumerGroups(); err != nil || groups[group] != "" {
		t.Errorf("list groups after delete = %v, %v; want no %s", groups, err, group)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.errs {
		t.Error(e)
	}
	for v, by := range rec.consumed {
		if slices.Contains(by, "c") && !strings.HasPrefix(v, "third-") {
			t.Errorf("new member c re-read %s, which was committed before it joined", v)
		}
	}
}

// checkSaramaCommits checks that group has committed offset want on every
// partition of topic.
func checkSaramaCommits(t *testing.T, admin sarama.ClusterAdmin, group, topic string, partitions int, want int64) {
	t.Helper()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		t.Fatalf("list group offsets: %v", err)
	}
	for _, p := range ps {
		blk := resp.GetBlock(topic, p)
		if blk == nil || !errors.Is(blk.Err, sarama.ErrNoError) || blk.Offset != want {
			t.Errorf("committed offset of %s/%d = %+v, want %d", topic, p, blk, want)
		}
	}
}

func TestSaramaClusterAdmin(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	for _, v := range saramaVersions {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			testSaramaClusterAdmin(t, b, v)
		})
	}
}

func testSaramaClusterAdmin(t *testing.T, b *testBroker, v sarama.KafkaVersion) {
	topic := saramaTopic("sarama-admin", v, "t")
	admin, err := sarama.NewClusterAdmin([]string{b.addr}, saramaConfig(v))
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	defer admin.Close()

	retention := "3600000"
	detail := &sarama.TopicDetail{
		NumPartitions:     3,
		ReplicationFactor: 1,
		ConfigEntries:     map[string]*string{"retention.ms": &retention},
	}
	if err := admin.CreateTopic(topic, detail, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := admin.CreateTopic(topic, detail, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("second create: %v, want %v", err, sarama.ErrTopicAlreadyExists)
	}

	md, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("describe topics: %v", err)
	}
	if len(md) != 1 || md[0].Name != topic || !errors.Is(md[0].Err, sarama.ErrNoError) || len(md[0].Partitions) != 3 {
		t.Fatalf("describe topics = %+v, want %s with 3 partitions", md[0], topic)
	}

	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
	if err != nil {
		t.Fatalf("describe config: %v", err)
	}
	if len(entries) != 1 || entries[0].Name != "retention.ms" || entries[0].Value != retention {
		t.Fatalf("describe config = %+v, want retention.ms=%s", entries, retention)
	}

	// AlterConfig is the non-incremental AlterConfigs: the topic keeps
	// only what it lists.
	segmentMs := "60000"
	if err := admin.AlterConfig(sarama.TopicResource, topic, map[string]*string{"segment.ms": &segmentMs}, false); err != nil {
		t.Fatalf("alter config: %v", err)
	}
	entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms", "segment.ms"}})
	if err != nil {
		t.Fatalf("describe config: %v", err)
	}
	for _, e := range entries {
		if e.Name == "retention.ms" && (e.Value != "604800000" || !e.Default) || e.Name == "segment.ms" && e.Value != "60000" {
			t.Fatalf("after alter config: %+v, want retention.ms back to its default and segment.ms=60000", entries)
		}
	}

	if err := admin.CreatePartitions(topic, 5, nil, false); err != nil {
		t.Fatalf("create partitions: %v", err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if d, ok := topics[topic]; !ok || d.NumPartitions != 5 {
		t.Fatalf("list topics has %s = %+v (present %v), want 5 partitions", topic, d, ok)
	}

	if err := admin.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if err := admin.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("second delete: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
	md, err = admin.DescribeTopics([]string{topic})
	if err != nil {
		t.Fatalf("describe deleted topic: %v", err)
	}
	if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("describe deleted topic = %+v, want %v", md[0], sarama.ErrUnknownTopicOrPartition)
	}
}
