package group

import (
	"context"
	"errors"
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

// Test timeouts: short enough to keep the suite fast, long enough for -race.
const (
	testSession   = 2 * time.Second
	testRebalance = 2 * time.Second
)

func testOptions() Options {
	return Options{
		PollInterval:      10 * time.Millisecond,
		SweepInterval:     10 * time.Millisecond,
		MinSessionTimeout: 50 * time.Millisecond,
		MaxSessionTimeout: time.Minute,
	}
}

// newCoordinator returns a Coordinator over b that is closed with the test.
func newCoordinator(t *testing.T, b objectstore.Bucket) *Coordinator {
	t.Helper()
	// Logs go to the test's output, shown when it fails or with -v.
	c := New(b, slog.New(slog.NewTextHandler(t.Output(), nil)), testOptions())
	t.Cleanup(c.Close)
	return c
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return WithClient(ctx, "client", "127.0.0.1")
}

func joinRequest(group, memberID string, session time.Duration, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = int32(session / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(testRebalance / time.Millisecond)
	req.ProtocolType = "consumer"
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte(p + "-meta")})
	}
	return req
}

// member is a test client of one group.
type testMember struct {
	t     *testing.T
	c     *Coordinator
	group string
	id    string
	gen   int32
	join  *kmsg.JoinGroupResponse
}

// joinNew joins a new member, going through MEMBER_ID_REQUIRED.
func joinNew(ctx context.Context, t *testing.T, c *Coordinator, group string, session time.Duration) *testMember {
	t.Helper()
	resp := c.JoinGroup(ctx, joinRequest(group, "", session))
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.MemberIDRequired) {
		t.Fatalf("first join: got %v, want MEMBER_ID_REQUIRED", err)
	}
	m := &testMember{t: t, c: c, group: group, id: resp.MemberID}
	m.rejoin(ctx, session)
	return m
}

// rejoin joins with the member's id and records the generation.
func (m *testMember) rejoin(ctx context.Context, session time.Duration) *kmsg.JoinGroupResponse {
	m.t.Helper()
	resp := m.c.JoinGroup(ctx, joinRequest(m.group, m.id, session))
	if resp.ErrorCode != 0 {
		m.t.Fatalf("join %s: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
	}
	m.gen, m.join = resp.Generation, resp
	return resp
}

// rejoinAsync runs rejoin in a goroutine; receive from the channel to wait.
func (m *testMember) rejoinAsync(ctx context.Context, session time.Duration) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp := m.c.JoinGroup(ctx, joinRequest(m.group, m.id, session))
		if resp.ErrorCode == 0 {
			m.gen, m.join = resp.Generation, resp
		}
		ch <- resp
	}()
	return ch
}

func (m *testMember) sync(ctx context.Context, assignments map[string]string) *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = m.group, m.id, m.gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for id, a := range assignments {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return m.c.SyncGroup(ctx, req)
}

func (m *testMember) heartbeat(ctx context.Context) error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = m.group, m.id, m.gen
	return kerr.ErrorForCode(m.c.Heartbeat(ctx, req).ErrorCode)
}

// awaitHeartbeat heartbeats until the answer is want.
func (m *testMember) awaitHeartbeat(ctx context.Context, want error) {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := m.heartbeat(ctx)
		if errors.Is(err, want) || err == want {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("heartbeat %s: got %v, want %v", m.id, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, got int16, want error) {
	t.Helper()
	if gotErr := kerr.ErrorForCode(got); gotErr != want {
		t.Fatalf("%s: got %v, want %v", what, gotErr, want)
	}
}

// countingBucket counts writes to the bucket it wraps, and can be made to
// fail every call.
type countingBucket struct {
	objectstore.Bucket
	writes atomic.Int64
	fail   atomic.Bool
}

var errUnreachable = errors.New("bucket unreachable")

func (b *countingBucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if b.fail.Load() {
		return objectstore.Object{}, errUnreachable
	}
	return b.Bucket.Get(ctx, key)
}

func (b *countingBucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	b.writes.Add(1)
	if b.fail.Load() {
		return "", errUnreachable
	}
	return b.Bucket.PutIfAbsent(ctx, key, data)
}

func (b *countingBucket) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	b.writes.Add(1)
	if b.fail.Load() {
		return "", errUnreachable
	}
	return b.Bucket.PutIfMatch(ctx, key, data, etag)
}

func (b *countingBucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if b.fail.Load() {
		return nil, errUnreachable
	}
	return b.Bucket.List(ctx, prefix, startAfter, limit)
}

func (b *countingBucket) Delete(ctx context.Context, key string) error {
	b.writes.Add(1)
	if b.fail.Load() {
		return errUnreachable
	}
	return b.Bucket.Delete(ctx, key)
}

func newCountingBucket() *countingBucket { return &countingBucket{Bucket: memory.New()} }

// settle runs each member like a client (join; heartbeat until told to
// rejoin; repeat) until they all hold the join response of one generation
// that has every member, then stops them and records that generation.
func settle(ctx context.Context, t *testing.T, members []*testMember, session time.Duration) {
	t.Helper()
	var (
		mu     sync.Mutex
		latest = make(map[string]*kmsg.JoinGroupResponse)
		errs   = make(chan error, len(members))
		wg     sync.WaitGroup
	)
	stopCtx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		wg.Wait()
	}()
	for _, m := range members {
		wg.Go(func() {
			for stopCtx.Err() == nil {
				r := m.c.JoinGroup(stopCtx, joinRequest(m.group, m.id, session))
				if r.ErrorCode != 0 {
					if stopCtx.Err() == nil {
						errs <- kerr.ErrorForCode(r.ErrorCode)
					}
					return
				}
				mu.Lock()
				latest[m.id] = r
				mu.Unlock()
				hb := &kmsg.HeartbeatRequest{Version: 4, Group: m.group, MemberID: m.id, Generation: r.Generation}
				for stopCtx.Err() == nil && m.c.Heartbeat(stopCtx, hb).ErrorCode == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	settled := func() bool {
		g, err := members[0].c.read(ctx, members[0].group)
		if err != nil || g.State != stateCompletingRebalance || len(g.Members) != len(members) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range members {
			if r := latest[m.id]; r == nil || r.Generation != g.Generation || r.LeaderID != g.Leader {
				return false
			}
		}
		return true
	}
	for !settled() {
		select {
		case err := <-errs:
			t.Fatalf("join: %v", err)
		case <-ctx.Done():
			t.Fatal("group did not settle")
		case <-time.After(5 * time.Millisecond):
		}
	}
	stop()
	wg.Wait()
	for _, m := range members {
		m.join = latest[m.id]
		m.gen = m.join.Generation
		if m.join.LeaderID == m.id && len(m.join.Members) != len(members) {
			t.Fatalf("leader got %d members, want %d", len(m.join.Members), len(members))
		}
	}
}
