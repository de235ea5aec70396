package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (API key 13), versions 0-5.
//
// Leaving removes the members in one write and starts a rebalance for the
// rest, or makes the group Empty (advancing the generation) if none remain.
//
//   - v0-v2: one MemberID; an unknown member is the top-level
//     UNKNOWN_MEMBER_ID.
//   - v3: KIP-345 batch of Members, each by member id or instance id, each
//     with its own error code (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID).
//   - v5: per-member Reason (logged).
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	codes := make([]int16, len(leaving))
	ctx, cancel := c.applying(ctx)
	defer cancel()
	_, err := c.update(ctx, req.Group, func(g *groupState, now time.Time) (bool, error) {
		var ids []string
		for i, l := range leaving {
			codes[i] = 0
			m := g.member(l.MemberID)
			if l.InstanceID != nil {
				s := g.memberByInstance(*l.InstanceID)
				switch {
				case s == nil:
					m = nil
				case l.MemberID != "" && l.MemberID != s.ID:
					codes[i] = kerr.FencedInstanceID.Code
					continue
				default:
					m = s
				}
			}
			if m == nil {
				codes[i] = kerr.UnknownMemberID.Code
				continue
			}
			ids = append(ids, m.ID)
		}
		if len(ids) == 0 {
			return false, nil
		}
		c.logger.Info("group members leaving", "group", req.Group, "members", ids)
		g.removeMembers(ids, now, c.opts.InitialRebalanceDelay)
		return true, nil
	})
	if err != nil {
		resp.ErrorCode = c.errorCode("leave", req.Group, err)
		return resp
	}
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, l := range leaving {
		resp.Members = append(resp.Members, kmsg.LeaveGroupResponseMember{
			MemberID:   l.MemberID,
			InstanceID: l.InstanceID,
			ErrorCode:  codes[i],
		})
	}
	return resp
}
