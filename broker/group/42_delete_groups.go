package group

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (API key 42), versions 0-2.
//
// Only a group with no members can be deleted (else NON_EMPTY_GROUP); a
// group with neither a state document nor offsets is GROUP_ID_NOT_FOUND.
// Deletion first marks the state document Dead with a conditional write, so
// that it cannot race a join that read the group as Empty, then removes the
// offsets and the state document.
//
// Offsets are deleted even if a commit races the deletion; a simple consumer
// committing to a group while it is deleted may find its commit gone.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, group := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = group
		applyCtx, cancel := c.applying(ctx)
		dg.ErrorCode = c.errorCode("delete group", group, c.deleteGroup(applyCtx, group))
		cancel()
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, group string) error {
	if group == "" {
		return kerr.InvalidGroupID
	}
	_, _, hasOffsets, err := c.readOffsets(ctx, group)
	if err != nil {
		return err
	}
	var hasState bool
	if _, err := c.update(ctx, group, func(g *groupState, _ time.Time) (bool, error) {
		hasState = g.exists
		if len(g.Members) > 0 {
			return false, kerr.NonEmptyGroup
		}
		if !g.exists {
			return false, nil
		}
		g.State = stateDead
		return true, nil
	}); err != nil {
		return err
	}
	if !hasState && !hasOffsets {
		return kerr.GroupIDNotFound
	}
	if err := c.bucket.Delete(ctx, offsetsKey(group)); err != nil {
		return fmt.Errorf("delete offsets of group %q: %w", group, err)
	}
	// A join may have revived the group since it was marked Dead; then it
	// stays. (Bucket has no conditional delete, so a join landing between
	// this read and the delete is lost; its members rejoin.)
	obj, err := c.bucket.Get(ctx, stateKey(group))
	if err == nil && isDead(obj.Data) {
		if err := c.bucket.Delete(ctx, stateKey(group)); err != nil {
			return fmt.Errorf("delete group %q: %w", group, err)
		}
	}
	c.logger.Info("group deleted", "group", group)
	return nil
}

// isDead reports whether raw is a group document marked deleted.
func isDead(raw []byte) bool {
	var g struct {
		State string `json:"state"`
	}
	return json.Unmarshal(raw, &g) == nil && g.State == stateDead
}
