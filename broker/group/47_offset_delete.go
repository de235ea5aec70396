package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (API key 47), version 0: removes a group's committed
// offsets for the partitions listed (kafka-consumer-groups.sh
// --delete-offsets, kadm's DeleteOffsets), as Kafka does:
//
//   - a group with neither members nor commits is GROUP_ID_NOT_FOUND;
//   - an Empty group (or one with only commits) loses every listed
//     commit;
//   - a group with members keeps the commits of topics its members
//     subscribe to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others, if
//     it uses the consumer protocol; any other protocol is
//     NON_EMPTY_GROUP. Subscriptions that cannot be read count as
//     subscribing to everything.
//
// A partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION; a listed
// partition with no commit is no error. A group-level error answers no
// partitions. The check of the group's members and the write of its
// offsets are two documents, so a member that joins in between may find
// the commits of a topic it has just subscribed to deleted, and starts
// from its reset policy.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	ctx, cancel := c.applying(ctx)
	defer cancel()
	codes, err := c.offsetDelete(ctx, req)
	if err != nil {
		resp.ErrorCode = c.errorCode("offset delete", req.Group, err)
		return resp
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// offsetDelete deletes what it may and returns each listed partition's
// error code, in request order, or a group-level error.
func (c *Coordinator) offsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) ([][]int16, error) {
	if req.Group == "" {
		return nil, kerr.InvalidGroupID
	}
	g, err := c.read(ctx, req.Group)
	if err != nil {
		return nil, err
	}
	_, _, hasOffsets, err := c.readOffsets(ctx, req.Group)
	if err != nil {
		return nil, err
	}
	if !g.exists && !hasOffsets {
		return nil, kerr.GroupIDNotFound
	}
	subscribed := func(string) bool { return false }
	if len(g.Members) > 0 {
		if g.ProtocolType != consumerProtocolType {
			return nil, kerr.NonEmptyGroup
		}
		subscribed = g.subscribes()
	}

	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	topics, err := c.lookupTopics(ctx, names)
	if err != nil {
		return nil, err
	}
	codes := make([][]int16, len(req.Topics))
	remove := make(map[string][]int32)
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		for j, p := range t.Partitions {
			switch {
			case topics != nil && !topics[t.Topic].has(p.Partition):
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case subscribed(t.Topic):
				codes[i][j] = kerr.GroupSubscribedToTopic.Code
			default:
				remove[t.Topic] = append(remove[t.Topic], p.Partition)
			}
		}
	}
	if len(remove) == 0 {
		return codes, nil
	}
	err = c.updateOffsets(ctx, req.Group, func(doc *offsetsDoc) (bool, error) {
		write := false
		for topic, parts := range remove {
			for _, p := range parts {
				if _, ok := doc.Topics[topic][p]; ok {
					delete(doc.Topics[topic], p)
					write = true
				}
			}
			if len(doc.Topics[topic]) == 0 {
				delete(doc.Topics, topic)
			}
		}
		return write, nil
	})
	if err != nil {
		return nil, err
	}
	c.logger.Info("offsets deleted", "group", req.Group, "partitions", remove)
	return codes, nil
}

// consumerProtocolType is the protocol type of Kafka consumer groups,
// whose member metadata lists the topics each member subscribes to.
const consumerProtocolType = "consumer"

// subscribes returns whether any member of a consumer group subscribes to
// a topic, from the members' metadata for the group's protocol. If that
// is not known (no protocol chosen yet, metadata that does not decode),
// every topic counts as subscribed.
func (g *groupState) subscribes() func(topic string) bool {
	all := func(string) bool { return true }
	if g.Protocol == "" {
		return all
	}
	topics := make(map[string]bool)
	for _, m := range g.Members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.Protocol)); err != nil {
			return all
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return func(topic string) bool { return topics[topic] }
}
