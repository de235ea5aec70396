package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// groupType is the KIP-848 group type of every group this package serves.
const groupType = "classic"

// ListGroups (API key 16), versions 0-4 (and v5's type filter).
//
// Lists every group in the bucket, not just the ones this broker serves: a
// group with a state document, or only committed offsets (reported Empty
// with no protocol type, as Kafka reports simple-consumer groups).
//
//   - v4: StatesFilter, matched case-insensitively; GroupState.
//   - v5: TypesFilter and GroupType (always "classic").
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	groups, err := c.listGroups(ctx)
	if err != nil {
		resp.ErrorCode = c.errorCode("list groups", "", err)
		return resp
	}
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, lg := range groups {
		if req.Version >= 4 && !match(req.StatesFilter, lg.GroupState) ||
			req.Version >= 5 && !match(req.TypesFilter, lg.GroupType) {
			continue
		}
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// listGroups reads every group in the bucket, in key order. It reads the
// documents directly rather than through the cache, so that listing does not
// make this Coordinator sweep every group.
func (c *Coordinator) listGroups(ctx context.Context) ([]kmsg.ListGroupsResponseGroup, error) {
	objs, err := objectstore.ListAll(ctx, c.bucket, groupsPrefix, "")
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	var out []kmsg.ListGroupsResponseGroup
	for _, o := range objs {
		group, suffix, ok := parseKey(o.Key)
		if !ok || (suffix != stateSuffix && suffix != offsetsSuffix) {
			continue
		}
		if len(out) > 0 && out[len(out)-1].Group == group {
			continue // a group's keys are adjacent; it was listed by its offsets key
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.GroupState, lg.GroupType = group, stateEmpty, groupType
		obj, err := c.bucket.Get(ctx, stateKey(group))
		switch {
		case errors.Is(err, objectstore.ErrNotFound):
			if suffix == stateSuffix {
				continue // deleted since the listing
			}
		case err != nil:
			return nil, fmt.Errorf("read group %q: %w", group, err)
		default:
			g, err := decode(obj.Data)
			if err != nil {
				return nil, err
			}
			if g.exists {
				lg.ProtocolType, lg.GroupState = g.ProtocolType, g.State
			} else if suffix == stateSuffix {
				continue // deleted: Dead
			}
		}
		out = append(out, lg)
	}
	return out, nil
}
