package group

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

func commitRequest(group, memberID string, generation int32, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, memberID, generation
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, 7, kmsg.StringPtr("md")
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return req
}

func fetchRequest(version int16, group, topic string, partitions ...int32) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = version
	if version >= 8 {
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: partitions}}}}
		return req
	}
	req.Group = group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: partitions}}
	return req
}

func TestOffsetCommitFetch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := memory.New()
	c := newCoordinator(t, b)

	// A simple consumer (no group membership) commits with generation -1.
	resp := c.OffsetCommit(ctx, commitRequest("simple", "", -1, "t", 0, 42))
	wantCode(t, "simple commit", resp.Topics[0].Partitions[0].ErrorCode, nil)
	if resp.Version != 8 || resp.Topics[0].Topic != "t" || resp.Topics[0].Partitions[0].Partition != 0 {
		t.Fatalf("commit response: %+v", resp)
	}
	// A generation with no group is not valid.
	wantCode(t, "commit with generation to a missing group",
		c.OffsetCommit(ctx, commitRequest("missing", "m", 1, "t", 0, 1)).Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
	tooLarge := commitRequest("simple", "", -1, "t", 1, 1)
	tooLarge.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, maxMetadataBytes+1)))
	wantCode(t, "large metadata", c.OffsetCommit(ctx, tooLarge).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)

	check := func(name string, c *Coordinator) {
		t.Helper()
		// v8: batched by group.
		r8 := c.OffsetFetch(ctx, fetchRequest(8, "simple", "t", 0, 1))
		if len(r8.Groups) != 1 || r8.Groups[0].ErrorCode != 0 {
			t.Fatalf("%s: fetch v8: %+v", name, r8)
		}
		ps := r8.Groups[0].Topics[0].Partitions
		if ps[0].Offset != 42 || ps[0].LeaderEpoch != 7 || *ps[0].Metadata != "md" {
			t.Fatalf("%s: fetch v8 partition 0: %+v", name, ps[0])
		}
		if ps[1].Offset != -1 || ps[1].LeaderEpoch != -1 || ps[1].Metadata == nil || *ps[1].Metadata != "" {
			t.Fatalf("%s: fetch v8 uncommitted partition 1: %+v", name, ps[1])
		}
		// v7: one group, top-level error code.
		r7 := c.OffsetFetch(ctx, fetchRequest(7, "simple", "t", 0))
		if r7.ErrorCode != 0 || r7.Topics[0].Partitions[0].Offset != 42 {
			t.Fatalf("%s: fetch v7: %+v", name, r7)
		}
		// v2+: null topics fetches everything committed.
		all := c.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 5, Group: "simple"})
		if len(all.Topics) != 1 || len(all.Topics[0].Partitions) != 1 || all.Topics[0].Partitions[0].Offset != 42 {
			t.Fatalf("%s: fetch all: %+v", name, all)
		}
	}
	check("same coordinator", c)

	// A new Coordinator over the same bucket (a restarted broker) sees them.
	c.Close()
	check("after restart", newCoordinator(t, b))

	unknown := c.OffsetFetch(ctx, fetchRequest(8, "nobody", "t", 3))
	if p := unknown.Groups[0].Topics[0].Partitions[0]; unknown.Groups[0].ErrorCode != 0 || p.Offset != -1 || p.Partition != 3 {
		t.Fatalf("fetch of unknown group: %+v", unknown)
	}
	wantCode(t, "fetch empty group id", c.OffsetFetch(ctx, fetchRequest(8, "", "t", 0)).Groups[0].ErrorCode, kerr.InvalidGroupID)
}

func TestOffsetCommitByMembers(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	m := stableGroup(ctx, t, c, "g", 1, testSession)[0]

	tests := []struct {
		name       string
		memberID   string
		generation int32
		want       error
	}{
		{"current member", m.id, m.gen, nil},
		{"stale generation", m.id, m.gen - 1, kerr.IllegalGeneration},
		{"unknown member", "nobody", m.gen, kerr.UnknownMemberID},
		{"simple consumer while group has members", "", -1, kerr.UnknownMemberID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.OffsetCommit(ctx, commitRequest("g", tt.memberID, tt.generation, "t", 0, 5))
			wantCode(t, "commit", got.Topics[0].Partitions[0].ErrorCode, tt.want)
		})
	}
	if got := c.OffsetFetch(ctx, fetchRequest(6, "g", "t", 0)); got.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("fetch after member commit: %+v", got)
	}
}

func TestDeleteAndListGroups(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	m := stableGroup(ctx, t, c, "busy/group.1", 1, testSession)[0]
	wantCode(t, "simple commit", c.OffsetCommit(ctx, commitRequest("simple", "", -1, "t", 0, 1)).Topics[0].Partitions[0].ErrorCode, nil)

	list := func(version int16, states ...string) map[string]kmsg.ListGroupsResponseGroup {
		t.Helper()
		resp := c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: version, StatesFilter: states})
		if resp.ErrorCode != 0 {
			t.Fatalf("list groups: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		out := make(map[string]kmsg.ListGroupsResponseGroup)
		for _, g := range resp.Groups {
			out[g.Group] = g
		}
		return out
	}
	all := list(4)
	if len(all) != 2 || all["busy/group.1"].GroupState != "Stable" || all["busy/group.1"].ProtocolType != "consumer" || all["simple"].GroupState != "Empty" {
		t.Fatalf("list: %+v", all)
	}
	if stable := list(4, "stable"); len(stable) != 1 {
		t.Fatalf("list stable: %+v", stable)
	}
	if empty := list(4, "Empty"); len(empty) != 1 {
		t.Fatalf("list empty: %+v", empty)
	}
	if v3 := list(3, "Empty"); len(v3) != 2 {
		t.Fatalf("v3 ignores the state filter: %+v", v3)
	}

	del := func(group string) int16 {
		resp := c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{group}})
		return resp.Groups[0].ErrorCode
	}
	wantCode(t, "delete non-empty group", del("busy/group.1"), kerr.NonEmptyGroup)
	wantCode(t, "delete unknown group", del("nope"), kerr.GroupIDNotFound)
	wantCode(t, "delete offsets-only group", del("simple"), nil)

	c.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Group: "busy/group.1", MemberID: m.id})
	wantCode(t, "delete emptied group", del("busy/group.1"), nil)
	if left := list(4); len(left) != 0 {
		t.Fatalf("list after deletes: %+v", left)
	}
	if d := describe(ctx, t, c, "busy/group.1"); d.State != "Dead" {
		t.Fatalf("describe deleted group: %+v", d)
	}
	if f := c.OffsetFetch(ctx, fetchRequest(7, "simple", "t", 0)); f.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("offsets survived delete: %+v", f)
	}

	// The group id can be reused.
	if again := joinNew(ctx, t, c, "busy/group.1", testSession); again.gen != 1 {
		t.Fatalf("recreated group generation %d, want 1", again.gen)
	}
}

// stallingBucket holds the first read of one key until release is
// closed, however long that is and whatever the caller's context says, as
// a store that answers a request very late does.
type stallingBucket struct {
	objectstore.Bucket
	key     string
	stalled chan struct{} // closed when the first read of key is held
	release chan struct{}
	once    sync.Once
}

func (b *stallingBucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if key == b.key {
		first := false
		b.once.Do(func() { first = true })
		if first {
			close(b.stalled)
			<-b.release
			// The answer arrives, whatever the context says now.
			return b.Bucket.Get(context.WithoutCancel(ctx), key)
		}
	}
	return b.Bucket.Get(ctx, key)
}

// A commit that the store answers only after its client gave up must not
// be written: the client sent it again and committed later offsets since,
// and writing it would move the partition's offset back.
func TestLateCommitDoesNotUndoLaterOnes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := &stallingBucket{Bucket: memory.New(), key: offsetsKey("g"), stalled: make(chan struct{}), release: make(chan struct{})}
	opts := testOptions()
	opts.ApplyTimeout = 100 * time.Millisecond
	c := New(b, slog.New(slog.NewTextHandler(t.Output(), nil)), opts)
	t.Cleanup(c.Close)

	late := make(chan *kmsg.OffsetCommitResponse, 1)
	go func() { late <- c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, 10)) }()
	<-b.stalled
	// The client gives up on the held commit and commits again, then
	// commits further.
	for _, offset := range []int64{10, 20} {
		wantCode(t, "commit", c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, offset)).Topics[0].Partitions[0].ErrorCode, nil)
	}
	time.Sleep(2 * opts.ApplyTimeout)
	close(b.release)
	// Refused by its deadline, or found overtaken: either way, no write.
	if code := (<-late).Topics[0].Partitions[0].ErrorCode; code == 0 {
		t.Fatal("the held commit succeeded")
	}

	resp := c.OffsetFetch(ctx, fetchRequest(8, "g", "t", 0))
	if got := resp.Groups[0].Topics[0].Partitions[0].Offset; got != 20 {
		t.Fatalf("committed offset %d after the held commit finished, want 20", got)
	}
}

// A commit held by the store for less than ApplyTimeout, whose client sent
// later commits meanwhile, finds a commit received after it and keeps
// that one: it is answered REQUEST_TIMED_OUT and writes nothing.
func TestOvertakenCommitKeepsTheLaterOne(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := &stallingBucket{Bucket: memory.New(), key: offsetsKey("g"), stalled: make(chan struct{}), release: make(chan struct{})}
	c := newCoordinator(t, b)

	late := make(chan *kmsg.OffsetCommitResponse, 1)
	go func() { late <- c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, 10)) }()
	<-b.stalled
	for _, offset := range []int64{10, 20} {
		wantCode(t, "commit", c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, offset)).Topics[0].Partitions[0].ErrorCode, nil)
	}
	close(b.release)
	wantCode(t, "the held commit", (<-late).Topics[0].Partitions[0].ErrorCode, kerr.RequestTimedOut)
	if got := c.OffsetFetch(ctx, fetchRequest(8, "g", "t", 0)).Groups[0].Topics[0].Partitions[0].Offset; got != 20 {
		t.Fatalf("committed offset %d after the held commit finished, want 20", got)
	}
}

// Receipt times further apart than ApplyTimeout are a clock that moved,
// not a race: a commit after a broker's clock stepped back is written.
func TestCommitAfterAClockStepIsWritten(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	opts := testOptions()
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	opts.Now = func() time.Time { return *now.Load() }
	c := New(memory.New(), slog.New(slog.NewTextHandler(t.Output(), nil)), opts)
	t.Cleanup(c.Close)

	for _, step := range []struct {
		at     time.Duration
		offset int64
	}{{0, 5}, {0, 6}, {-time.Hour, 7}} {
		at := start.Add(step.at)
		now.Store(&at)
		wantCode(t, "commit", c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, step.offset)).Topics[0].Partitions[0].ErrorCode, nil)
		if got := c.OffsetFetch(ctx, fetchRequest(8, "g", "t", 0)).Groups[0].Topics[0].Partitions[0].Offset; got != step.offset {
			t.Fatalf("clock at %v: committed offset %d, want %d", step.at, got, step.offset)
		}
	}
}
