package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore/memory"
)

func offsetDeleteRequest(group, topic string, partitions ...int32) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.OffsetDeleteRequestTopic{Topic: topic}
	for _, p := range partitions {
		rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
	}
	req.Topics = []kmsg.OffsetDeleteRequestTopic{rt}
	return req
}

// TestOffsetDeleteInGroupsWithMembers covers what a group with members
// refuses: every topic when its members' subscriptions cannot be read
// (here consumer-protocol metadata that does not decode), and everything
// when the group is not a consumer group.
func TestOffsetDeleteInGroupsWithMembers(t *testing.T) {
	ctx := testContext(t)
	c := newCoordinator(t, memory.New())
	simpleCommit := func(group string) {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = 8, group, -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "x", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5}}}}
		resp := c.OffsetCommit(ctx, req)
		wantCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, nil)
	}

	simpleCommit("unreadable")
	joinNew(ctx, t, c, "unreadable", testSession) // metadata "range-meta" is no ConsumerMemberMetadata
	resp := c.OffsetDelete(ctx, offsetDeleteRequest("unreadable", "x", 0))
	wantCode(t, "group error", resp.ErrorCode, nil)
	wantCode(t, "delete x/0", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)

	simpleCommit("connect")
	join := joinRequest("connect", "", testSession)
	join.ProtocolType = "connect"
	first := c.JoinGroup(ctx, join)
	join.MemberID = first.MemberID
	if r := c.JoinGroup(ctx, join); r.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	resp = c.OffsetDelete(ctx, offsetDeleteRequest("connect", "x", 0))
	wantCode(t, "delete in a connect group with members", resp.ErrorCode, kerr.NonEmptyGroup)
	if len(resp.Topics) != 0 {
		t.Errorf("a group-level error answered partitions: %+v", resp.Topics)
	}
}
