package group

import (
	"context"
	"time"
)

// idleEviction is how long a group stays cached after the last activity of
// a member connected here, once it has no live local members or waiters.
// Groups only described or committed to (simple consumers) are not kept.
const idleEviction = time.Minute

// sweepLoop runs maintain for every cached group each SweepInterval, so that
// leases of local members are renewed, dead members are removed and overdue
// rounds complete even when no request arrives for the group.
func (c *Coordinator) sweepLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, group := range c.sweepable() {
			if _, err := c.maintain(ctx, group, false); err != nil && ctx.Err() == nil {
				c.logger.Warn("group sweep failed", "group", group, "err", err)
			}
		}
	}
}

// sweepable returns the cached groups and evicts the ones that are idle:
// no waiters, no members heard from here (see entry.prune) and no member
// activity for idleEviction.
func (c *Coordinator) sweepable() []string {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	groups := make([]string, 0, len(c.groups))
	for group, e := range c.groups {
		e.mu.Lock()
		idle := e.waiters == 0 && len(e.seen) == 0 && now.Sub(e.active) > idleEviction
		e.mu.Unlock()
		if idle {
			delete(c.groups, group)
			continue
		}
		groups = append(groups, group)
	}
	return groups
}

// maintain brings one group's leases and rounds up to date: it renews the
// leases of members heard from here that are at least half used, removes
// members whose leases ran out and that this broker has not heard from, and
// makes due transitions (groupState.advance). It reads the document through
// the cache (fresh reads if fresh is set) and writes only when something is
// due, so a quiet, healthy group costs no writes.
func (c *Coordinator) maintain(ctx context.Context, group string, fresh bool) (*groupState, error) {
	var (
		g   *groupState
		err error
	)
	if fresh {
		g, err = c.read(ctx, group)
	} else {
		g, err = c.cached(ctx, group)
	}
	if err != nil {
		return nil, err
	}
	e := c.entry(group)
	e.prune(g, c.now())
	seen := e.lastSeen()
	if !c.due(group, g, seen, c.now()) {
		return g, nil
	}
	return c.update(ctx, group, func(g *groupState, now time.Time) (bool, error) {
		return c.due(group, g, seen, now), nil
	})
}

// due applies to g every lease renewal, expiry and transition that is due at
// now, and reports whether it changed anything. seen holds the members this
// broker has heard from. Once one of their leases is half used, all of them
// are renewed in the same write, so a broker writes about once per half
// session per group, however many of its members the group has.
func (c *Coordinator) due(group string, g *groupState, seen map[string]time.Time, now time.Time) bool {
	alive := func(m *member) (time.Time, bool) {
		at, ok := seen[m.ID]
		return at, ok && now.Sub(at) < m.session()
	}
	renew := false
	var expired []string
	for _, m := range g.Members {
		_, ok := alive(m)
		switch {
		case ok && m.LeaseExpiry.Sub(now) < m.session()/2:
			renew = true
		case !ok && !now.Before(m.LeaseExpiry):
			expired = append(expired, m.ID)
		}
	}
	changed := false
	for _, m := range g.Members {
		if at, ok := alive(m); ok && renew && at.Add(m.session()).After(m.LeaseExpiry) {
			m.LeaseExpiry = at.Add(m.session())
			changed = true
		}
	}
	if len(expired) > 0 {
		c.logger.Info("group members' sessions expired", "group", group, "members", expired, "generation", g.Generation)
		g.removeMembers(expired, now, c.opts.InitialRebalanceDelay)
		changed = true
	}
	if g.advance(now, c.opts.InitialRebalanceDelay) {
		changed = true
	}
	return changed
}

// waitChange blocks until the group document may have changed: a local
// write or read noticed a change (ch), or a PollInterval passed so the
// caller should re-read because another broker may have written.
func (c *Coordinator) waitChange(ctx context.Context, ch <-chan struct{}) error {
	t := time.NewTimer(c.opts.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errClosed
	case <-ch:
	case <-t.C:
	}
	return nil
}
