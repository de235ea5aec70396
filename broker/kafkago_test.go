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

	"github.com/segmentio/kafka-go"
)

// End-to-end tests with segmentio/kafka-go. Its Writer and Client negotiate
// versions through ApiVersions (protocol package); its Reader and Conn use
// fixed old versions for the group APIs (JoinGroup v1-2, SyncGroup,
// Heartbeat and LeaveGroup v0, OffsetCommit v2, OffsetFetch v1) and
// negotiate Fetch among v2, v5 and v10.

// kafkaGoTransport is a transport whose idle connections close with the test.
func kafkaGoTransport(t *testing.T) *kafka.Transport {
	t.Helper()
	tr := &kafka.Transport{ClientID: "siesta-kafka-go-test", MetadataTTL: time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func kafkaGoWriter(t *testing.T, b *testBroker, topic string, codec kafka.Compression) *kafka.Writer {
	t.Helper()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(b.addr),
		Topic:                  topic,
		Balancer:               &kafka.RoundRobin{},
		RequiredAcks:           kafka.RequireAll,
		Compression:            codec,
		BatchTimeout:           10 * time.Millisecond,
		WriteBackoffMin:        20 * time.Millisecond,
		WriteBackoffMax:        200 * time.Millisecond,
		AllowAutoTopicCreation: true,
		Transport:              kafkaGoTransport(t),
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close writer: %v", err)
		}
	})
	return w
}

func TestKafkaGoWriterReader(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	codecs := []struct {
		name  string
		codec kafka.Compression
	}{
		{"none", 0},
		{"gzip", kafka.Gzip},
		{"snappy", kafka.Snappy},
		{"lz4", kafka.Lz4},
		{"zstd", kafka.Zstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := "kafka-go-" + c.name
			w := kafkaGoWriter(t, b, topic, c.codec)
			ctx := testContext(t, 15*time.Second)
			const n = 100
			ts := time.UnixMilli(1_700_000_000_000)
			msgs := make([]kafka.Message, n)
			for i := range msgs {
				msgs[i] = kafka.Message{
					Key:     []byte(fmt.Sprintf("key-%d", i)),
					Value:   []byte(strings.Repeat(fmt.Sprintf("value-%d ", i), 10)),
					Headers: []kafka.Header{{Key: "i", Value: []byte(fmt.Sprint(i))}, {Key: "codec", Value: []byte(c.name)}},
					Time:    ts.Add(time.Duration(i) * time.Millisecond),
				}
			}
			// The first write creates the topic: kafka-go retries while
			// metadata catches up.
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write: %v", err)
			}

			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers:         []string{b.addr},
				Topic:           topic,
				Partition:       0,
				MaxWait:         100 * time.Millisecond,
				ReadLagInterval: -1,
				ReadBackoffMin:  20 * time.Millisecond,
				ReadBackoffMax:  100 * time.Millisecond,
			})
			defer r.Close()
			for i := range n {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("read message %d: %v", i, err)
				}
				want := msgs[i]
				if m.Offset != int64(i) || string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) {
					t.Fatalf("message %d: offset %d key %q value %q", i, m.Offset, m.Key, m.Value)
				}
				if !m.Time.Equal(want.Time) {
					t.Errorf("message %d: time %v, want %v", i, m.Time, want.Time)
				}
				if !slices.EqualFunc(m.Headers, want.Headers, func(a, b kafka.Header) bool {
					return a.Key == b.Key && string(a.Value) == string(b.Value)
				}) {
					t.Errorf("message %d: headers %v, want %v", i, m.Headers, want.Headers)
				}
			}
			// A read at the end of the log long-polls and answers empty.
			shortCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			if m, err := r.ReadMessage(shortCtx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read past the end = offset %d, %v; want a deadline", m.Offset, err)
			}
		})
	}
}

// TestKafkaGoConn writes and reads through kafka.Conn, kafka-go's low-level
// connection, which picks Produce and Fetch versions itself.
func TestKafkaGoConn(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	ctx := testContext(t, 10*time.Second)
	const topic = "kafka-go-conn"
	c, err := kafka.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	parts, err := c.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions: %v", err)
	}
	if len(parts) != 2 {
		t.Fatalf("read partitions = %+v, want 2", parts)
	}

	leader, err := kafka.DialLeader(ctx, "tcp", b.addr, topic, 1)
	if err != nil {
		t.Fatalf("dial leader: %v", err)
	}
	defer leader.Close()
	if err := leader.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.WriteMessages(
		kafka.Message{Key: []byte("a"), Value: []byte("one")},
		kafka.Message{Key: []byte("b"), Value: []byte("two")},
	); err != nil {
		t.Fatalf("write: %v", err)
	}
	first, last, err := leader.ReadOffsets()
	if err != nil || first != 0 || last != 2 {
		t.Fatalf("read offsets = %d, %d, %v; want 0, 2", first, last, err)
	}
	if _, err := leader.Seek(0, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	batch := leader.ReadBatch(1, 1<<20)
	var got []string
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		got = append(got, string(m.Key)+"="+string(m.Value))
	}
	if err := batch.Close(); err != nil {
		t.Fatalf("read batch: %v", err)
	}
	if want := []string{"a=one", "b=two"}; !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
}

// kafkaGoGroup tracks what the readers of one group have read and committed.
type kafkaGoGroup struct {
	mu   sync.Mutex
	read map[string][]string // value -> readers that read and committed it
	errs []error
}

func (g *kafkaGoGroup) count(values []string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range values {
		if len(g.read[v]) > 0 {
			n++
		}
	}
	return n
}

// runKafkaGoReader starts a group reader that fetches, records and commits
// each message until the returned stop function is called; stop closes the
// reader, which leaves the group.
func runKafkaGoReader(t *testing.T, b *testBroker, topic, groupID, name string, g *kafkaGoGroup) (stop func()) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{b.addr},
		GroupID:           groupID,
		Topic:             topic,
		MaxWait:           100 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		ReadLagInterval:   -1,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		ReadBackoffMin:    20 * time.Millisecond,
		ReadBackoffMax:    100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // commit synchronously in CommitMessages
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					g.mu.Lock()
					g.errs = append(g.errs, fmt.Errorf("%s: fetch: %w", name, err))
					g.mu.Unlock()
				}
				return
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				if ctx.Err() == nil {
					g.mu.Lock()
					g.errs = append(g.errs, fmt.Errorf("%s: commit %d/%d: %w", name, m.Partition, m.Offset, err))
					g.mu.Unlock()
				}
				return
			}
			g.mu.Lock()
			g.read[string(m.Value)] = append(g.read[string(m.Value)], name)
			g.mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			if err := r.Close(); err != nil {
				t.Errorf("close reader %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestKafkaGoConsumerGroup(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	const (
		topic      = "kafka-go-group"
		groupID    = "kafka-go-group"
		partitions = 4
	)
	c, err := kafka.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	w := kafkaGoWriter(t, b, topic, kafka.Snappy)
	produce := func(phase string, n int) []string {
		t.Helper()
		values := make([]string, n)
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			values[i] = fmt.Sprintf("%s-%d", phase, i)
			msgs[i] = kafka.Message{Value: []byte(values[i])}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("write %s: %v", phase, err)
		}
		return values
	}

	// Two readers join; once the group is stable with the partitions split
	// between them, every message is read by exactly one of them.
	g := &kafkaGoGroup{read: make(map[string][]string)}
	stopA := runKafkaGoReader(t, b, topic, groupID, "a", g)
	stopB := runKafkaGoReader(t, b, topic, groupID, "b", g)
	admin := &kafka.Client{Addr: kafka.TCP(b.addr), Timeout: 5 * time.Second, Transport: kafkaGoTransport(t)}
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last group description: %s", last)
		}
	})
	waitUntil(t, 10*time.Second, "a stable group of two readers sharing every partition", func() bool {
		resp, err := admin.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{groupID}})
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%+v", resp.Groups)
		return kafkaGoSplit(resp, partitions)
	})
	first := produce("first", 80)
	waitUntil(t, 10*time.Second, "the readers to read every message", func() bool { return g.count(first) == len(first) })
	stopA()
	stopB()

	// A new reader of the group resumes from the commits.
	second := produce("second", 8)
	runKafkaGoReader(t, b, topic, groupID, "c", g)
	waitUntil(t, 10*time.Second, "the new reader to read the new messages", func() bool { return g.count(second) == len(second) })

	g.mu.Lock()
	defer g.mu.Unlock()
	for _, err := range g.errs {
		t.Error(err)
	}
	readers := map[string]int{}
	for v, by := range g.read {
		if len(by) != 1 {
			t.Errorf("%s read by %v, want exactly once", v, by)
		}
		for _, r := range by {
			readers[r]++
			if r == "c" && !strings.HasPrefix(v, "second-") {
				t.Errorf("the new reader re-read %s, which was committed before it joined", v)
			}
		}
	}
	if readers["a"] == 0 || readers["b"] == 0 {
		t.Errorf("reads per reader %v: both first readers should have read", readers)
	}
}

// kafkaGoSplit reports whether the described group is stable with two
// members whose assignments split every partition between them.
func kafkaGoSplit(resp *kafka.DescribeGroupsResponse, partitions int) bool {
	if len(resp.Groups) != 1 {
		return false
	}
	grp := resp.Groups[0]
	if grp.Error != nil || grp.GroupState != "Stable" || len(grp.Members) != 2 {
		return false
	}
	owned := make(map[int]int)
	for _, m := range grp.Members {
		n := 0
		for _, tp := range m.MemberAssignments.Topics {
			for _, p := range tp.Partitions {
				owned[p]++
				n++
			}
		}
		if n == 0 {
			return false
		}
	}
	if len(owned) != partitions {
		return false
	}
	for _, c := range owned {
		if c != 1 {
			return false
		}
	}
	return true
}
