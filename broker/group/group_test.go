package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore/memory"
)

func TestJoinMemberIDRequired(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())

	resp := c.JoinGroup(ctx, joinRequest("g", "", testSession))
	wantCode(t, "join without member id", resp.ErrorCode, kerr.MemberIDRequired)
	if !strings.HasPrefix(resp.MemberID, "client-") {
		t.Fatalf("generated member id %q: want prefix client-", resp.MemberID)
	}
	if resp.Version != 9 {
		t.Fatalf("response version %d, want 9", resp.Version)
	}

	resp = c.JoinGroup(ctx, joinRequest("g", resp.MemberID, testSession))
	wantCode(t, "rejoin", resp.ErrorCode, nil)
	if resp.Generation != 1 || resp.LeaderID != resp.MemberID || len(resp.Members) != 1 {
		t.Fatalf("rejoin: generation %d leader %q members %d; want 1, self, 1", resp.Generation, resp.LeaderID, len(resp.Members))
	}
	if *resp.Protocol != "range" || *resp.ProtocolType != "consumer" || string(resp.Members[0].ProtocolMetadata) != "range-meta" {
		t.Fatalf("rejoin: protocol %q/%q metadata %q", *resp.ProtocolType, *resp.Protocol, resp.Members[0].ProtocolMetadata)
	}

	// Before KIP-394 (v3), a join without a member id is admitted at once.
	req := joinRequest("old", "", testSession)
	req.Version = 3
	resp = c.JoinGroup(ctx, req)
	wantCode(t, "v3 join", resp.ErrorCode, nil)
	if resp.MemberID == "" || resp.Generation != 1 {
		t.Fatalf("v3 join: member %q generation %d", resp.MemberID, resp.Generation)
	}
}

// stableGroup returns n members that completed a rebalance and synced,
// member i being assigned "p<i>".
func stableGroup(ctx context.Context, t *testing.T, c *Coordinator, group string, n int, session time.Duration) []*testMember {
	t.Helper()
	members := make([]*testMember, n)
	for i := range members {
		resp := c.JoinGroup(ctx, joinRequest(group, "", session))
		members[i] = &testMember{t: t, c: c, group: group, id: resp.MemberID}
	}
	settle(ctx, t, members, session)
	syncAll(ctx, t, members)
	return members
}

// syncAll syncs members of one generation, the leader assigning "p<i>" to
// member i, and checks that each gets its own assignment.
func syncAll(ctx context.Context, t *testing.T, members []*testMember) {
	t.Helper()
	assignments := make(map[string]string)
	for i, m := range members {
		assignments[m.id] = "p" + string(rune('0'+i))
	}
	results := make(chan error, len(members))
	for _, m := range members {
		go func() {
			var a map[string]string
			if m.join.LeaderID == m.id {
				a = assignments
			}
			resp := m.sync(ctx, a)
			switch {
			case resp.ErrorCode != 0:
				results <- kerr.ErrorForCode(resp.ErrorCode)
			case string(resp.MemberAssignment) != assignments[m.id]:
				results <- &assignmentError{m.id, string(resp.MemberAssignment), assignments[m.id]}
			default:
				results <- nil
			}
		}()
	}
	for range members {
		if err := <-results; err != nil {
			t.Fatalf("sync: %v", err)
		}
	}
}

type assignmentError struct{ member, got, want string }

func (e *assignmentError) Error() string {
	return "member " + e.member + " got assignment " + e.got + ", want " + e.want
}

func TestTwoMembersJoinAndSync(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())

	a := joinNew(ctx, t, c, "g", testSession)
	resp := c.JoinGroup(ctx, joinRequest("g", "", testSession))
	b := &testMember{t: t, c: c, group: "g", id: resp.MemberID}
	bJoin := b.rejoinAsync(ctx, testSession)

	// b's join started a round; a learns of it from its heartbeat.
	a.awaitHeartbeat(ctx, kerr.RebalanceInProgress)
	aResp := a.rejoin(ctx, testSession)
	bResp := <-bJoin
	wantCode(t, "b join", bResp.ErrorCode, nil)

	if aResp.Generation != 2 || bResp.Generation != 2 {
		t.Fatalf("generations %d and %d, want 2", aResp.Generation, bResp.Generation)
	}
	if aResp.LeaderID != a.id || bResp.LeaderID != a.id {
		t.Fatalf("leader %q / %q, want the first member %q", aResp.LeaderID, bResp.LeaderID, a.id)
	}
	if len(aResp.Members) != 2 || len(bResp.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d; want 2 and 0", len(aResp.Members), len(bResp.Members))
	}
	syncAll(ctx, t, []*testMember{a, b})

	// A follower resyncing a Stable generation gets its assignment back.
	if got := b.sync(ctx, nil); got.ErrorCode != 0 || string(got.MemberAssignment) != "p1" || *got.Protocol != "range" {
		t.Fatalf("resync: %v %q", kerr.ErrorForCode(got.ErrorCode), got.MemberAssignment)
	}
	for _, m := range []*testMember{a, b} {
		if err := m.heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat in Stable group: %v", err)
		}
	}

	d := describe(ctx, t, c, "g")
	if d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		if m.ClientID != "client" || m.ClientHost != "127.0.0.1" || len(m.MemberAssignment) == 0 {
			t.Fatalf("describe member: %+v", m)
		}
	}
}

func describe(ctx context.Context, t *testing.T, c *Coordinator, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{group}
	resp := c.DescribeGroups(ctx, req)
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("describe %s: %+v", group, resp)
	}
	return resp.Groups[0]
}

func TestHeartbeatRebalanceWhenThirdJoins(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	members := stableGroup(ctx, t, c, "g", 2, testSession)

	resp := c.JoinGroup(ctx, joinRequest("g", "", testSession))
	third := &testMember{t: t, c: c, group: "g", id: resp.MemberID}
	thirdJoin := third.rejoinAsync(ctx, testSession)

	var waits []<-chan *kmsg.JoinGroupResponse
	for _, m := range members {
		m.awaitHeartbeat(ctx, kerr.RebalanceInProgress)
		waits = append(waits, m.rejoinAsync(ctx, testSession))
	}
	all := append(members, third)
	for _, w := range append(waits, thirdJoin) {
		if r := <-w; r.ErrorCode != 0 || r.Generation != 3 {
			t.Fatalf("join: %v generation %d, want generation 3", kerr.ErrorForCode(r.ErrorCode), r.Generation)
		}
	}
	syncAll(ctx, t, all)
}

func TestLeaveTriggersRebalance(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	members := stableGroup(ctx, t, c, "g", 2, testSession)
	a, b := members[0], members[1]

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: b.id}, {MemberID: "nobody"}}
	resp := c.LeaveGroup(ctx, leave)
	wantCode(t, "leave", resp.ErrorCode, nil)
	if len(resp.Members) != 2 {
		t.Fatalf("leave: %d member results, want 2", len(resp.Members))
	}
	wantCode(t, "leaving member", resp.Members[0].ErrorCode, nil)
	wantCode(t, "unknown leaving member", resp.Members[1].ErrorCode, kerr.UnknownMemberID)

	a.awaitHeartbeat(ctx, kerr.RebalanceInProgress)
	if r := a.rejoin(ctx, testSession); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin after leave: generation %d members %d", r.Generation, len(r.Members))
	}
	wantCode(t, "heartbeat of departed member", c.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: b.id, Generation: 3}).ErrorCode, kerr.UnknownMemberID)

	// v0 leave of the last member empties the group.
	old := kmsg.NewPtrLeaveGroupRequest()
	old.Group, old.MemberID = "g", a.id
	wantCode(t, "v0 leave", c.LeaveGroup(ctx, old).ErrorCode, nil)
	wantCode(t, "v0 leave again", c.LeaveGroup(ctx, old).ErrorCode, kerr.UnknownMemberID)
	if d := describe(ctx, t, c, "g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after everyone left: %+v", d)
	}
}

func TestSessionExpiryRemovesMember(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const session = 300 * time.Millisecond
	c := newCoordinator(t, memory.New())
	members := stableGroup(ctx, t, c, "g", 2, session)
	a, b := members[0], members[1]

	// a keeps heartbeating, b goes silent: after b's session the sweep
	// removes it and a is told to rebalance.
	start := time.Now()
	a.awaitHeartbeat(ctx, kerr.RebalanceInProgress)
	if waited := time.Since(start); waited < session/2 {
		t.Fatalf("rebalance after %v, before b's session could expire", waited)
	}
	if r := a.rejoin(ctx, session); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin: generation %d members %d, want 3 and 1", r.Generation, len(r.Members))
	}
	wantCode(t, "expired member heartbeat", c.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: b.id, Generation: b.gen}).ErrorCode, kerr.UnknownMemberID)

	// a, heartbeating through several sessions, stays.
	syncAll(ctx, t, []*testMember{a})
	for range 3 * session / (20 * time.Millisecond) {
		if err := a.heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat of live member: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	members := stableGroup(ctx, t, c, "g", 1, testSession)
	m := members[0]

	joinTests := []struct {
		name string
		req  func() *kmsg.JoinGroupRequest
		want error
	}{
		{"empty group id", func() *kmsg.JoinGroupRequest { return joinRequest("", "", testSession) }, kerr.InvalidGroupID},
		{"session too short", func() *kmsg.JoinGroupRequest { return joinRequest("g", m.id, time.Millisecond) }, kerr.InvalidSessionTimeout},
		{"session too long", func() *kmsg.JoinGroupRequest { return joinRequest("g", m.id, time.Hour) }, kerr.InvalidSessionTimeout},
		{"no protocols", func() *kmsg.JoinGroupRequest {
			r := joinRequest("g", "x", testSession)
			r.Protocols = nil
			return r
		}, kerr.InconsistentGroupProtocol},
		{"other protocol type", func() *kmsg.JoinGroupRequest {
			r := joinRequest("g", "x", testSession)
			r.ProtocolType = "connect"
			return r
		}, kerr.InconsistentGroupProtocol},
		{"no common protocol", func() *kmsg.JoinGroupRequest { return joinRequest("g", "x", testSession, "sticky") }, kerr.InconsistentGroupProtocol},
	}
	for _, tt := range joinTests {
		t.Run("join/"+tt.name, func(t *testing.T) {
			wantCode(t, tt.name, c.JoinGroup(ctx, tt.req()).ErrorCode, tt.want)
		})
	}

	memberTests := []struct {
		name       string
		memberID   string
		generation int32
		want       error
	}{
		{"unknown member", "nobody", m.gen, kerr.UnknownMemberID},
		{"illegal generation", m.id, m.gen - 1, kerr.IllegalGeneration},
		{"valid", m.id, m.gen, nil},
	}
	for _, tt := range memberTests {
		t.Run("heartbeat/"+tt.name, func(t *testing.T) {
			hb := &kmsg.HeartbeatRequest{Version: 4, Group: "g", MemberID: tt.memberID, Generation: tt.generation}
			wantCode(t, "heartbeat", c.Heartbeat(ctx, hb).ErrorCode, tt.want)
		})
		t.Run("sync/"+tt.name, func(t *testing.T) {
			sg := &kmsg.SyncGroupRequest{Version: 5, Group: "g", MemberID: tt.memberID, Generation: tt.generation}
			wantCode(t, "sync", c.SyncGroup(ctx, sg).ErrorCode, tt.want)
		})
		t.Run("commit/"+tt.name, func(t *testing.T) {
			oc := commitRequest("g", tt.memberID, tt.generation, "t", 0, 10)
			wantCode(t, "commit", c.OffsetCommit(ctx, oc).Topics[0].Partitions[0].ErrorCode, tt.want)
		})
	}
	t.Run("heartbeat/empty group id", func(t *testing.T) {
		wantCode(t, "heartbeat", c.Heartbeat(ctx, &kmsg.HeartbeatRequest{}).ErrorCode, kerr.InvalidGroupID)
	})
	t.Run("sync/inconsistent protocol", func(t *testing.T) {
		sg := &kmsg.SyncGroupRequest{Version: 5, Group: "g", MemberID: m.id, Generation: m.gen, Protocol: kmsg.StringPtr("sticky")}
		wantCode(t, "sync", c.SyncGroup(ctx, sg).ErrorCode, kerr.InconsistentGroupProtocol)
	})
}

func TestJoinReturnsWhenClientGoes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	stableGroup(ctx, t, c, "g", 1, testSession)

	// A second member's join waits for the first to rejoin, which it never
	// does; the disconnect must end the wait, not the rebalance timeout.
	resp := c.JoinGroup(ctx, joinRequest("g", "", testSession))
	joinCtx, cancel := context.WithCancel(ctx)
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- c.JoinGroup(joinCtx, joinRequest("g", resp.MemberID, testSession)) }()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case r := <-done:
		wantCode(t, "cancelled join", r.ErrorCode, kerr.CoordinatorNotAvailable)
		if waited := time.Since(start); waited > time.Second {
			t.Fatalf("join returned %v after cancel", waited)
		}
	case <-time.After(testRebalance / 2):
		t.Fatal("join did not return after its context was cancelled")
	}
}

func TestStorageErrorIsRetriable(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := newCountingBucket()
	c := newCoordinator(t, b)
	b.fail.Store(true)

	wantCode(t, "join", c.JoinGroup(ctx, joinRequest("g", "m", testSession)).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "heartbeat", c.Heartbeat(ctx, &kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "sync", c.SyncGroup(ctx, &kmsg.SyncGroupRequest{Group: "g", MemberID: "m"}).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "leave", c.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Group: "g", MemberID: "m"}).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "commit", c.OffsetCommit(ctx, commitRequest("g", "", -1, "t", 0, 1)).Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "fetch", c.OffsetFetch(ctx, fetchRequest(7, "g", "t", 0)).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "fetch v1", c.OffsetFetch(ctx, fetchRequest(1, "g", "t", 0)).Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "list", c.ListGroups(ctx, &kmsg.ListGroupsRequest{}).ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "describe", c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"g"}}).Groups[0].ErrorCode, kerr.CoordinatorNotAvailable)
	wantCode(t, "delete", c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Groups: []string{"g"}}).Groups[0].ErrorCode, kerr.CoordinatorNotAvailable)
}

func TestStaticMemberKeepsID(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())

	static := func(memberID string) *kmsg.JoinGroupResponse {
		req := joinRequest("g", memberID, testSession)
		req.InstanceID = kmsg.StringPtr("instance-1")
		return c.JoinGroup(ctx, req)
	}
	first := static("")
	wantCode(t, "static join", first.ErrorCode, nil)
	if !strings.HasPrefix(first.MemberID, "instance-1-") || first.Generation != 1 {
		t.Fatalf("static join: member %q generation %d", first.MemberID, first.Generation)
	}
	// A restarted instance (no member id) gets its member back, and as an
	// unchanged member of a CompletingRebalance group, no new round.
	again := static("")
	wantCode(t, "static rejoin", again.ErrorCode, nil)
	if again.MemberID != first.MemberID || again.Generation != 1 {
		t.Fatalf("static rejoin: member %q generation %d, want %q and 1", again.MemberID, again.Generation, first.MemberID)
	}
	wantCode(t, "other member id for the instance", static("impostor").ErrorCode, kerr.FencedInstanceID)
}

// A JoinGroup that the store holds while its member, having given up on
// it, joins again through another broker with other metadata must not
// write its own over them when the store answers at last.
func TestHeldJoinDoesNotUndoALaterOne(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	shared := memory.New()
	held := &stallingBucket{Bucket: shared, key: stateKey("g"), stalled: make(chan struct{}), release: make(chan struct{})}
	slow, other := newCoordinator(t, held), newCoordinator(t, shared)
	m := joinNew(ctx, t, other, "g", testSession)
	wantCode(t, "sync", m.sync(ctx, map[string]string{m.id: "a"}).ErrorCode, nil)

	late := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { late <- slow.JoinGroup(ctx, joinRequest("g", m.id, testSession, "old")) }()
	<-held.stalled
	newer := other.JoinGroup(ctx, joinRequest("g", m.id, testSession, "new"))
	wantCode(t, "the later join", newer.ErrorCode, nil)
	close(held.release)
	wantCode(t, "the held join", (<-late).ErrorCode, kerr.CoordinatorNotAvailable)

	g, err := other.read(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(g.member(m.id).metadata("new")); got != "new-meta" || g.State == statePreparingRebalance {
		t.Fatalf("after the held join: metadata %q, state %v; want new-meta and no new round", got, g.State)
	}
}
