package group

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the KIP-430 bitfield of what a client may do with a
// group (READ, DELETE, DESCRIBE); siesta has no ACLs, so everything.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups (API key 15), versions 0-5.
//
// Each group is described from its document, read fresh. As in Kafka,
// member metadata and assignments are filled only when the group is Stable,
// and a group that does not exist is reported as Dead with no error (or as
// Empty if it only has committed offsets).
//
//   - v3: AuthorizedOperations when IncludeAuthorizedOperations.
//   - v4: member InstanceID.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, group := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = group
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperations
		} else {
			dg.AuthorizedOperations = math.MinInt32
		}
		if err := c.describe(ctx, &dg); err != nil {
			dg.ErrorCode = c.errorCode("describe", group, err)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describe(ctx context.Context, dg *kmsg.DescribeGroupsResponseGroup) error {
	if dg.Group == "" {
		return kerr.InvalidGroupID
	}
	g, err := c.read(ctx, dg.Group)
	if err != nil {
		return err
	}
	if !g.exists {
		_, _, hasOffsets, err := c.readOffsets(ctx, dg.Group)
		if err != nil {
			return err
		}
		dg.State = stateDead
		if hasOffsets {
			dg.State = stateEmpty
		}
		return nil
	}
	dg.State = g.State
	dg.ProtocolType = g.ProtocolType
	stable := g.State == stateStable
	if stable {
		dg.Protocol = g.Protocol
	}
	for _, m := range g.Members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.ID
		dm.InstanceID = m.InstanceID
		dm.ClientID = m.ClientID
		dm.ClientHost = m.ClientHost
		dm.ProtocolMetadata = []byte{}
		dm.MemberAssignment = []byte{}
		if stable {
			dm.ProtocolMetadata = m.metadata(g.Protocol)
			if m.Assignment != nil {
				dm.MemberAssignment = m.Assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
	return nil
}
