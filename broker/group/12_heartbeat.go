package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (API key 12), versions 0-4.
//
// A heartbeat is recorded in memory only. It reads the group document at
// most once per PollInterval (through the cache) to notice a rebalance
// started on another broker (REBALANCE_IN_PROGRESS), and writes only when
// the member's lease is at least half used, renewing in that one write the
// leases of every member of the group this broker has heard from.
//
//   - v3: InstanceID (static membership; FENCED_INSTANCE_ID on mismatch).
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.errorCode("heartbeat", req.Group, c.heartbeat(ctx, req))
	return resp
}

func (c *Coordinator) heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	g, err := c.cached(ctx, req.Group)
	if err != nil {
		return err
	}
	invalid := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if invalid != nil {
		// Don't reject a member on a cached view: it may just be older
		// than a join completed on another broker.
		if g, err = c.read(ctx, req.Group); err != nil {
			return err
		}
		invalid = g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	}
	if invalid != nil {
		return invalid
	}
	// Only a member of the group is kept alive, so a member removed for
	// being silent cannot renew itself by a late heartbeat.
	now := c.now()
	c.entry(req.Group).touch(req.MemberID, now)
	if g.State == statePreparingRebalance {
		return kerr.RebalanceInProgress
	}
	if m := g.member(req.MemberID); m.LeaseExpiry.Sub(now) < m.session()/2 {
		g, err = c.maintain(ctx, req.Group, true)
		if err != nil {
			// The heartbeat itself was fine; the sweep retries the renewal.
			c.logger.Warn("group lease renewal failed", "group", req.Group, "err", err)
			return nil
		}
		if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
			return err
		}
		if g.State == statePreparingRebalance {
			return kerr.RebalanceInProgress
		}
	}
	return nil
}
