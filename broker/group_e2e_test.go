package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceValues writes n records "prefix-i" round-robin over the topic's
// partitions and waits for all acknowledgements.
func produceValues(t *testing.T, b *testBroker, topic, prefix string, n int) {
	t.Helper()
	cl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := testContext(t, 20*time.Second)
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// groupMember is a franz-go consumer in a group that records what it read
// and which partitions it owned in each generation.
type groupMember struct {
	cl   *kgo.Client
	mu   sync.Mutex
	read []string
}

func newGroupMember(t *testing.T, b *testBroker, group, topic string, owned *ownership, name string) *groupMember {
	t.Helper()
	m := &groupMember{}
	m.cl = b.client(t,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(200*time.Millisecond),
		// Eager rebalancing: every assignment callback lists all of a
		// member's partitions, which the ownership check needs.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.RebalanceTimeout(5*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
			_, gen := cl.GroupMetadata()
			owned.claim(t, name, gen, assigned[topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
		}),
		kgo.AutoCommitMarks(),
	)
	return m
}

// poll reads once and marks what it read for commit.
func (m *groupMember) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	fs := m.cl.PollFetches(pctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range fs.Records() {
		m.read = append(m.read, string(r.Value))
	}
	m.cl.MarkCommitRecords(fs.Records()...)
}

// ownership checks that no partition is assigned to two members in one
// generation.
type ownership struct {
	mu     sync.Mutex
	owners map[int32]map[int32]string // generation -> partition -> member
}

func (o *ownership) claim(t *testing.T, member string, gen int32, partitions []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owners == nil {
		o.owners = make(map[int32]map[int32]string)
	}
	if o.owners[gen] == nil {
		o.owners[gen] = make(map[int32]string)
	}
	for _, p := range partitions {
		if prev, ok := o.owners[gen][p]; ok && prev != member {
			t.Errorf("generation %d: partition %d assigned to %s and %s", gen, p, prev, member)
		}
		o.owners[gen][p] = member
	}
}

// split reports whether some generation gave partitions to two members.
func (o *ownership) split() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, parts := range o.owners {
		members := map[string]bool{}
		for _, m := range parts {
			members[m] = true
		}
		if len(members) >= 2 {
			return true
		}
	}
	return false
}

func TestConsumerGroupRebalanceCommitResume(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = 4 })
	const topic, group = "group-topic", "group-a"
	produceValues(t, b, topic, "first", 400)

	var owned ownership
	ctx := testContext(t, 45*time.Second)
	one := newGroupMember(t, b, group, topic, &owned, "one")
	var two *groupMember
	seen := func() map[string]int {
		counts := make(map[string]int)
		for _, m := range []*groupMember{one, two} {
			if m == nil {
				continue
			}
			m.mu.Lock()
			for _, v := range m.read {
				counts[v]++
			}
			m.mu.Unlock()
		}
		return counts
	}
	// Member one reads, then member two joins and forces a rebalance.
	for len(seen()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("member one read nothing")
		}
		one.poll(ctx)
	}
	two = newGroupMember(t, b, group, topic, &owned, "two")
	for !owned.split() {
		if ctx.Err() != nil {
			t.Fatalf("no generation split the partitions between both members: %v", owned.owners)
		}
		one.poll(ctx)
		two.poll(ctx)
	}
	produceValues(t, b, topic, "more", 400)
	for len(seen()) < 800 {
		if ctx.Err() != nil {
			t.Fatalf("read %d of 800 records", len(seen()))
		}
		one.poll(ctx)
		two.poll(ctx)
	}

	for _, m := range []*groupMember{one, two} {
		if err := m.cl.CommitMarkedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		m.cl.Close()
	}

	// A new member resumes from the committed offsets: only new records.
	produceValues(t, b, topic, "second", 40)
	three := newGroupMember(t, b, group, topic, &owned, "three")
	var got []string
	for len(got) < 40 {
		if ctx.Err() != nil {
			t.Fatalf("resumed member read %d of 40 new records", len(got))
		}
		three.poll(ctx)
		three.mu.Lock()
		got = append([]string(nil), three.read...)
		three.mu.Unlock()
	}
	for _, v := range got {
		if len(v) < 6 || v[:6] != "second" {
			t.Fatalf("resumed member re-read %q", v)
		}
	}
}
