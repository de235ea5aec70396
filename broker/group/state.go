package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Group states, spelled as Kafka reports them in DescribeGroups and
// ListGroups.
const (
	stateEmpty               = "Empty"
	statePreparingRebalance  = "PreparingRebalance"
	stateCompletingRebalance = "CompletingRebalance"
	stateStable              = "Stable"
	stateDead                = "Dead"
)

// groupState is the group document stored at stateKey. Every method is a
// pure transition on a private copy decoded for one read-modify-write; the
// caller writes the result back with a conditional put.
type groupState struct {
	ProtocolType string    `json:"protocolType,omitempty"`
	Protocol     string    `json:"protocol,omitempty"` // chosen for the current generation
	State        string    `json:"state"`
	Generation   int32     `json:"generation"`
	Leader       string    `json:"leader,omitempty"`
	Members      []*member `json:"members,omitempty"` // in join order; the first becomes leader

	// NotBefore is the earliest time the current join round may complete
	// even if every member has joined (the initial rebalance delay).
	NotBefore time.Time `json:"notBefore,omitzero"`
	// Deadline is when the current round ends regardless: in
	// PreparingRebalance, members that have not rejoined are dropped; in
	// CompletingRebalance, a leader that has not synced causes a new round.
	Deadline time.Time `json:"deadline,omitzero"`

	// Revision grows with every write. Some stores' etags are content
	// hashes, so a document must never return to an earlier content, or a
	// stale compare-and-swap could succeed.
	Revision int64 `json:"revision"`

	// exists is false for a group with no document (or a deleted one).
	exists bool
}

// member is one group member as stored in the group document.
type member struct {
	ID                     string     `json:"id"`
	InstanceID             *string    `json:"instanceId,omitempty"`
	ClientID               string     `json:"clientId,omitempty"`
	ClientHost             string     `json:"clientHost,omitempty"`
	SessionTimeoutMillis   int32      `json:"sessionTimeoutMs"`
	RebalanceTimeoutMillis int32      `json:"rebalanceTimeoutMs"`
	Protocols              []protocol `json:"protocols"`
	Assignment             []byte     `json:"assignment,omitempty"`
	// Joined is set when the member has (re)joined in the current
	// PreparingRebalance round.
	Joined bool `json:"joined,omitempty"`
	// LeaseExpiry is when the member is considered dead unless its broker
	// renews the lease.
	LeaseExpiry time.Time `json:"leaseExpiry"`
	// JoinTime is when a broker received the JoinGroup that wrote
	// Protocols: an older request of the member that a slow store held
	// must not overwrite them (see join).
	JoinTime time.Time `json:"joinTime,omitzero"`
}

type protocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata,omitempty"`
}

func (m *member) session() time.Duration { return millis(m.SessionTimeoutMillis) }

func (m *member) metadata(name string) []byte {
	for _, p := range m.Protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(name string) bool {
	return slices.ContainsFunc(m.Protocols, func(p protocol) bool { return p.Name == name })
}

func newGroup() *groupState { return &groupState{State: stateEmpty} }

func (g *groupState) member(id string) *member {
	for _, m := range g.Members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func (g *groupState) memberByInstance(instanceID string) *member {
	for _, m := range g.Members {
		if m.InstanceID != nil && *m.InstanceID == instanceID {
			return m
		}
	}
	return nil
}

// validateMember checks a request from an existing member of the current
// generation (SyncGroup, Heartbeat, OffsetCommit), in Kafka's order.
func (g *groupState) validateMember(memberID string, instanceID *string, generation int32) error {
	m := g.member(memberID)
	if instanceID != nil {
		if s := g.memberByInstance(*instanceID); s != nil && s.ID != memberID {
			return kerr.FencedInstanceID
		}
	}
	if m == nil || g.State == stateEmpty || g.State == stateDead {
		return kerr.UnknownMemberID
	}
	if generation != g.Generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// supportsProtocols reports whether a member other than except could join
// with protocolType and protocols: Kafka requires the same protocol type and
// at least one protocol that every member supports.
func (g *groupState) supportsProtocols(except, protocolType string, protocols []protocol) bool {
	others := 0
	for _, m := range g.Members {
		if m.ID != except {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if protocolType != g.ProtocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range g.Members {
			if m.ID != except && !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (g *groupState) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.Members {
		d = max(d, millis(m.RebalanceTimeoutMillis))
	}
	return d
}

// prepareRebalance starts a join round: every member but keep must rejoin
// before the deadline. An empty group's first round waits initialDelay.
func (g *groupState) prepareRebalance(now time.Time, initialDelay time.Duration, keep string) {
	g.NotBefore = now
	if g.State == stateEmpty {
		g.NotBefore = now.Add(initialDelay)
	}
	g.State = statePreparingRebalance
	for _, m := range g.Members {
		m.Joined = m.ID == keep
	}
	g.Deadline = now.Add(max(g.rebalanceTimeout(), g.NotBefore.Sub(now)))
}

// advance makes the time- and membership-driven transitions that are due:
// completing a join round once everyone has rejoined or the deadline passed,
// and restarting one whose leader never synced. It reports whether g changed.
func (g *groupState) advance(now time.Time, initialDelay time.Duration) bool {
	switch g.State {
	case statePreparingRebalance:
		allJoined := !slices.ContainsFunc(g.Members, func(m *member) bool { return !m.Joined })
		if (allJoined && !now.Before(g.NotBefore)) || !now.Before(g.Deadline) {
			g.completeRebalance(now)
			return true
		}
	case stateCompletingRebalance:
		if !now.Before(g.Deadline) {
			g.prepareRebalance(now, initialDelay, "")
			return true
		}
	}
	return false
}

// completeRebalance ends a join round: members that did not rejoin are
// dropped and the generation advances. The leader keeps its role if it
// rejoined; the protocol is the first in the leader's preference order that
// every member supports.
func (g *groupState) completeRebalance(now time.Time) {
	g.Members = slices.DeleteFunc(g.Members, func(m *member) bool { return !m.Joined })
	g.Generation++
	g.NotBefore = time.Time{}
	if len(g.Members) == 0 {
		g.toEmpty()
		return
	}
	if g.member(g.Leader) == nil {
		g.Leader = g.Members[0].ID
	}
	leader := g.member(g.Leader)
	g.Protocol = leader.Protocols[0].Name
	for _, p := range leader.Protocols {
		if !slices.ContainsFunc(g.Members, func(m *member) bool { return !m.supports(p.Name) }) {
			g.Protocol = p.Name
			break
		}
	}
	for _, m := range g.Members {
		m.Assignment = nil
		m.LeaseExpiry = now.Add(m.session())
	}
	g.State = stateCompletingRebalance
	g.Deadline = now.Add(g.rebalanceTimeout())
}

func (g *groupState) toEmpty() {
	g.State = stateEmpty
	g.Leader = ""
	g.Protocol = ""
	g.Members = nil
	g.Deadline = time.Time{}
	g.NotBefore = time.Time{}
}

// removeMembers drops members (LeaveGroup, expired leases) and rebalances
// the rest, or empties the group, advancing the generation as Kafka does.
func (g *groupState) removeMembers(ids []string, now time.Time, initialDelay time.Duration) {
	g.Members = slices.DeleteFunc(g.Members, func(m *member) bool { return slices.Contains(ids, m.ID) })
	switch {
	case len(g.Members) == 0 && g.State != stateEmpty:
		g.Generation++
		g.toEmpty()
	case g.State == stateStable || g.State == stateCompletingRebalance:
		g.prepareRebalance(now, initialDelay, "")
	case g.State == statePreparingRebalance:
		g.advance(now, initialDelay)
	}
}
