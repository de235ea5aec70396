package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/siestamq/siesta/objectstore/memory"
)

// TestTwoCoordinatorsShareBucket is two brokers over one bucket with one
// member connected to each: they must agree on one generation with distinct
// assignments, learning of each other's changes only through the bucket.
func TestTwoCoordinatorsShareBucket(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := memory.New()
	c1, c2 := newCoordinator(t, b), newCoordinator(t, b)

	a := joinNew(ctx, t, c1, "g", testSession)
	syncAll(ctx, t, []*testMember{a})

	resp := c2.JoinGroup(ctx, joinRequest("g", "", testSession))
	wantCode(t, "join on second broker", resp.ErrorCode, kerr.MemberIDRequired)
	m2 := &testMember{t: t, c: c2, group: "g", id: resp.MemberID}
	m2Join := m2.rejoinAsync(ctx, testSession)

	// a, on c1, notices the round started on c2 and rejoins there.
	a.awaitHeartbeat(ctx, kerr.RebalanceInProgress)
	aResp := a.rejoin(ctx, testSession)
	m2Resp := <-m2Join
	wantCode(t, "second member join", m2Resp.ErrorCode, nil)
	if aResp.Generation != 2 || m2Resp.Generation != 2 || aResp.LeaderID != m2Resp.LeaderID {
		t.Fatalf("brokers disagree: generation %d/%d leader %q/%q", aResp.Generation, m2Resp.Generation, aResp.LeaderID, m2Resp.LeaderID)
	}
	syncAll(ctx, t, []*testMember{a, m2})

	// Both brokers describe the same group.
	d1, d2 := describe(ctx, t, c1, "g"), describe(ctx, t, c2, "g")
	if d1.State != "Stable" || d2.State != "Stable" || len(d1.Members) != 2 {
		t.Fatalf("describe: %+v / %+v", d1, d2)
	}
	seen := make(map[string]string)
	for _, m := range d2.Members {
		if owner, dup := seen[string(m.MemberAssignment)]; dup {
			t.Fatalf("assignment %q given to %s and %s", m.MemberAssignment, owner, m.MemberID)
		}
		seen[string(m.MemberAssignment)] = m.MemberID
	}

	// Heartbeats on both brokers see the same Stable generation.
	for range 5 {
		for _, m := range []*testMember{a, m2} {
			if err := m.heartbeat(ctx); err != nil {
				t.Fatalf("heartbeat %s: %v", m.id, err)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentJoinsAcrossCoordinators joins members on both brokers at
// once, each behaving like a client, and checks that they settle in one
// generation with one leader and distinct assignments.
func TestConcurrentJoinsAcrossCoordinators(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := memory.New()
	coords := []*Coordinator{newCoordinator(t, b), newCoordinator(t, b)}

	members := make([]*testMember, 6)
	for i := range members {
		c := coords[i%2]
		resp := c.JoinGroup(ctx, joinRequest("g", "", testSession))
		members[i] = &testMember{t: t, c: c, group: "g", id: resp.MemberID}
	}
	settle(ctx, t, members, testSession)
	syncAll(ctx, t, members)
}

// TestHeartbeatsDoNotWrite counts bucket writes: heartbeats within the first
// half of the session must not write at all; after that, the leases of the
// broker's members are renewed together, about once per half session.
func TestHeartbeatsDoNotWrite(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := newCountingBucket()
	c := newCoordinator(t, b)
	const session = time.Second
	members := stableGroup(ctx, t, c, "g", 2, session)

	heartbeatFor := func(d time.Duration) int {
		n := 0
		for start := time.Now(); time.Since(start) < d; n++ {
			for _, m := range members {
				if err := m.heartbeat(ctx); err != nil {
					t.Fatalf("heartbeat: %v", err)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		return n
	}

	// Heartbeat until shortly before the first lease is half used.
	g, err := c.read(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	renewAt := g.Members[0].LeaseExpiry
	for _, m := range g.Members {
		if m.LeaseExpiry.Before(renewAt) {
			renewAt = m.LeaseExpiry
		}
	}
	renewAt = renewAt.Add(-session / 2)
	before := b.writes.Load()
	n := heartbeatFor(time.Until(renewAt) - 50*time.Millisecond)
	if time.Now().After(renewAt) || n < 5 {
		t.Skipf("only %d heartbeats before the leases were half used; machine too slow to measure", n)
	}
	if w := b.writes.Load() - before; w != 0 {
		t.Fatalf("%d heartbeats of 2 members in the first half of their session caused %d writes, want 0", n, w)
	}

	// Over one more session: one write renews both members' leases, a
	// renewal each half session, give or take scheduling.
	before = b.writes.Load()
	heartbeatFor(session)
	if w := b.writes.Load() - before; w < 1 || w > 4 {
		t.Fatalf("lease renewals over a session: %d writes, want about 2", w)
	}
	if d := describe(ctx, t, c, "g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group after renewals: %+v", d)
	}
}
