package group

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup (API key 14), versions 0-5.
//
// The leader's SyncGroup stores every member's assignment for its generation
// and makes the group Stable; members absent from the leader's list get an
// empty assignment. Followers wait until the assignment of their generation
// is stored (on any broker), or answer REBALANCE_IN_PROGRESS if a new round
// starts first. A SyncGroup during PreparingRebalance is
// REBALANCE_IN_PROGRESS; one for another generation is ILLEGAL_GENERATION.
//
//   - v3: InstanceID (static membership).
//   - v5: ProtocolType and Protocol in the request (checked against the
//     group's, INCONSISTENT_GROUP_PROTOCOL on mismatch) and the response.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g, err := c.sync(ctx, req)
	if err != nil {
		resp.ErrorCode = c.errorCode("sync", req.Group, err)
		return resp
	}
	resp.MemberAssignment = g.member(req.MemberID).Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	resp.ProtocolType = kmsg.StringPtr(g.ProtocolType)
	resp.Protocol = kmsg.StringPtr(g.Protocol)
	return resp
}

// sync returns the group once it is Stable in the request's generation.
func (c *Coordinator) sync(ctx context.Context, req *kmsg.SyncGroupRequest) (*groupState, error) {
	if req.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	e := c.entry(req.Group)
	e.addWaiter(1, c.now())
	defer func() { e.addWaiter(-1, c.now()) }()
	check := func(g *groupState) error {
		if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
			return err
		}
		if req.ProtocolType != nil && *req.ProtocolType != g.ProtocolType ||
			req.Protocol != nil && g.Protocol != "" && *req.Protocol != g.Protocol {
			return kerr.InconsistentGroupProtocol
		}
		if g.State == statePreparingRebalance {
			return kerr.RebalanceInProgress
		}
		return nil
	}
	for first := true; ; first = false {
		e.touch(req.MemberID, c.now())
		ch := e.wait()
		seen := e.lastSeen()
		var invalid error
		g, err := c.update(ctx, req.Group, func(g *groupState, now time.Time) (bool, error) {
			if invalid = check(g); invalid != nil {
				return false, nil
			}
			changed := false
			// Only the first pass may store the leader's assignments: had
			// the generation completed again meanwhile, they would be stale.
			if first && g.State == stateCompletingRebalance && req.MemberID == g.Leader {
				assignments := make(map[string][]byte, len(req.GroupAssignment))
				for _, a := range req.GroupAssignment {
					assignments[a.MemberID] = a.MemberAssignment
				}
				for _, m := range g.Members {
					m.Assignment = assignments[m.ID]
				}
				g.State = stateStable
				g.Deadline = time.Time{}
				changed = true
			}
			if c.due(req.Group, g, seen, now) {
				changed = true
			}
			return changed, nil
		})
		if err != nil {
			return nil, err
		}
		if invalid == nil {
			// due may have ended the generation.
			invalid = check(g)
		}
		if invalid != nil {
			if !first && errors.Is(invalid, kerr.IllegalGeneration) {
				// A new generation completed while we waited.
				return nil, kerr.RebalanceInProgress
			}
			return nil, invalid
		}
		if g.State == stateStable {
			return g, nil
		}
		if err := c.waitChange(ctx, ch); err != nil {
			return nil, err
		}
	}
}
