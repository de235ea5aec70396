package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup (API key 11), versions 0-9.
//
// A join adds or updates the member and starts a rebalance round
// (PreparingRebalance) unless one is running. The response is held until
// every member has rejoined or the round's deadline (the largest rebalance
// timeout) passes; then members that did not rejoin are dropped, the
// generation advances and the leader gets every member's metadata for the
// chosen protocol. Whichever broker first sees the round complete writes the
// new generation; waiters elsewhere see it within PollInterval.
//
// A follower rejoining a Stable group, or any member rejoining a
// CompletingRebalance group, with unchanged protocols gets the current
// generation back without a new round, as in Kafka.
//
//   - v1: RebalanceTimeoutMillis (v0 uses the session timeout).
//   - v4: KIP-394, a join without a member id gets MEMBER_ID_REQUIRED and a
//     generated id to rejoin with.
//   - v5: InstanceID (KIP-345 static membership): a known instance keeps its
//     member id; a different member id for it is FENCED_INSTANCE_ID.
//   - v7: ProtocolType in the response. v8: Reason. v9: SkipAssignment
//     (always false: the leader assigns).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	memberID, g, err := c.join(ctx, req)
	resp.MemberID = memberID
	if err != nil {
		resp.ErrorCode = c.errorCode("join", req.Group, err)
		return resp
	}
	resp.Generation = g.Generation
	resp.ProtocolType = kmsg.StringPtr(g.ProtocolType)
	resp.Protocol = kmsg.StringPtr(g.Protocol)
	resp.LeaderID = g.Leader
	if memberID == g.Leader {
		for _, m := range g.Members {
			resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{
				MemberID:         m.ID,
				InstanceID:       m.InstanceID,
				ProtocolMetadata: m.metadata(g.Protocol),
			})
		}
	}
	return resp
}

// join validates the request, records the member in the group document and
// waits for the round to complete. It returns the member id to answer with
// and the group as of the completed generation.
func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest) (string, *groupState, error) {
	if req.Group == "" {
		return req.MemberID, nil, kerr.InvalidGroupID
	}
	session := millis(req.SessionTimeoutMillis)
	if session < c.opts.MinSessionTimeout || session > c.opts.MaxSessionTimeout {
		return req.MemberID, nil, kerr.InvalidSessionTimeout
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return req.MemberID, nil, kerr.InconsistentGroupProtocol
	}
	client := clientFrom(ctx)
	memberID := req.MemberID
	if memberID == "" {
		prefix := client.id
		if req.InstanceID != nil {
			prefix = *req.InstanceID
		}
		memberID = newMemberID(prefix)
		if req.InstanceID == nil && req.Version >= 4 {
			return memberID, nil, kerr.MemberIDRequired
		}
	}
	rebalanceMillis := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebalanceMillis <= 0 {
		rebalanceMillis = req.SessionTimeoutMillis
	}
	protocols := make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protocols[i] = protocol{Name: p.Name, Metadata: p.Metadata}
	}

	var (
		id       string // the member id, which a known static instance keeps
		startGen int32  // the generation the join round started from
		current  bool   // answer with the current generation, no new round
	)
	// The member's metadata is written within ApplyTimeout of the
	// request's arrival or not at all; the wait for the round is not
	// bounded by it.
	arrival := c.now()
	applyCtx, cancel := c.applying(ctx)
	defer cancel()
	g, err := c.update(applyCtx, req.Group, func(g *groupState, now time.Time) (bool, error) {
		id, current = memberID, false
		if req.InstanceID != nil {
			if s := g.memberByInstance(*req.InstanceID); s != nil {
				if req.MemberID != "" && req.MemberID != s.ID {
					return false, kerr.FencedInstanceID
				}
				id = s.ID
			}
		}
		if !g.supportsProtocols(id, req.ProtocolType, protocols) {
			return false, kerr.InconsistentGroupProtocol
		}
		startGen = g.Generation
		m := g.member(id)
		if m != nil && c.overtakes(m.JoinTime, arrival) {
			// A JoinGroup of this member received after this one has
			// written: the client gave up on this request (a slow
			// store held it) and joined again, perhaps with other
			// metadata (a cooperative consumer's owned partitions),
			// which this one must not undo.
			return false, kerr.CoordinatorNotAvailable
		}
		if m != nil && slices.EqualFunc(m.Protocols, protocols, protocolEqual) &&
			(g.State == stateCompletingRebalance || g.State == stateStable && id != g.Leader) {
			current = true
			return false, nil
		}
		if m == nil {
			m = &member{ID: id}
			g.Members = append(g.Members, m)
		}
		m.InstanceID = req.InstanceID
		m.ClientID, m.ClientHost = client.id, client.host
		m.SessionTimeoutMillis, m.RebalanceTimeoutMillis = req.SessionTimeoutMillis, rebalanceMillis
		m.Protocols = protocols
		m.JoinTime = arrival
		m.LeaseExpiry = now.Add(session)
		m.Joined = true
		g.ProtocolType = req.ProtocolType
		if g.State != statePreparingRebalance {
			g.prepareRebalance(now, c.opts.InitialRebalanceDelay, id)
		}
		g.advance(now, c.opts.InitialRebalanceDelay)
		return true, nil
	})
	if err != nil {
		return id, nil, err
	}
	c.entry(req.Group).touch(id, c.now())
	if current {
		return id, g, nil
	}
	g, err = c.awaitJoin(ctx, req.Group, id, startGen)
	return id, g, err
}

func protocolEqual(a, b protocol) bool {
	return a.Name == b.Name && slices.Equal(a.Metadata, b.Metadata)
}

// awaitJoin waits until a generation after startGen completes with the
// member in it. While waiting it counts as a sign of life for the member,
// rejoins it to any newer round it finds itself left out of (it is, after
// all, still waiting in JoinGroup) and completes the round when it is due.
func (c *Coordinator) awaitJoin(ctx context.Context, group, id string, startGen int32) (*groupState, error) {
	e := c.entry(group)
	e.addWaiter(1, c.now())
	defer func() { e.addWaiter(-1, c.now()) }()
	for {
		e.touch(id, c.now())
		ch := e.wait()
		seen := e.lastSeen()
		g, err := c.update(ctx, group, func(g *groupState, now time.Time) (bool, error) {
			changed := false
			if m := g.member(id); m != nil && g.State == statePreparingRebalance && !m.Joined {
				m.Joined = true
				changed = true
			}
			if c.due(group, g, seen, now) {
				changed = true
			}
			return changed, nil
		})
		if err != nil {
			return nil, err
		}
		if g.member(id) == nil {
			return nil, kerr.UnknownMemberID
		}
		if g.State != statePreparingRebalance && g.Generation > startGen {
			return g, nil
		}
		if err := c.waitChange(ctx, ch); err != nil {
			return nil, err
		}
	}
}
