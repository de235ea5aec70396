package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (API key 8), versions 0-8.
//
// Commits are validated as Kafka does: a group with no members accepts
// commits with generation -1 (simple consumers, and v0 which has no
// generation); otherwise the member must belong to the current generation
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION) and the group must not be awaiting
// its leader's assignment (REBALANCE_IN_PROGRESS). A commit by a member also
// counts as its heartbeat. All partitions of a request are written in one
// conditional write of the group's offsets document, within ApplyTimeout
// of the request's arrival or not at all (COORDINATOR_NOT_AVAILABLE). A
// partition that a request received later has committed meanwhile keeps
// that commit, and this one is answered REQUEST_TIMED_OUT (see
// commitOffsets). A partition that does not exist is answered
// UNKNOWN_TOPIC_OR_PARTITION; each commit keeps its topic's id, so that a
// topic deleted and created again starts without commits (Options.Topics).
//
//   - v1: Generation, MemberID and a per-partition Timestamp (ignored).
//   - v2-v4: RetentionTimeMillis (ignored: offsets are kept until the group
//     is deleted).
//   - v6: LeaderEpoch. v7: InstanceID (FENCED_INSTANCE_ID on mismatch).
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	arrival := c.now()
	ctx, cancel := c.applying(ctx)
	defer cancel()
	if err := c.offsetCommit(ctx, req, codes, arrival); err != nil {
		code := c.errorCode("offset commit", req.Group, err)
		for i := range codes {
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
	}
	for i, t := range req.Topics {
		rt := kmsg.OffsetCommitResponseTopic{Topic: t.Topic}
		for j, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, kmsg.OffsetCommitResponseTopicPartition{
				Partition: p.Partition,
				ErrorCode: codes[i][j],
			})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// offsetCommit validates and writes a commit. A returned error applies to
// every partition; per-partition errors are set in codes.
func (c *Coordinator) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest, codes [][]int16, arrival time.Time) error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		generation, memberID = -1, ""
	}
	g, err := c.read(ctx, req.Group)
	if err != nil {
		return err
	}
	switch {
	case len(g.Members) == 0 && generation < 0:
		// A simple consumer, or offsets managed outside the group protocol.
	case !g.exists:
		return kerr.IllegalGeneration
	case g.State == stateCompletingRebalance && g.member(memberID) != nil && generation == g.Generation:
		return kerr.RebalanceInProgress
	default:
		if err := g.validateMember(memberID, req.InstanceID, generation); err != nil {
			return err
		}
		c.entry(req.Group).touch(memberID, c.now())
	}

	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		names[i] = t.Topic
	}
	topics, err := c.lookupTopics(ctx, names)
	if err != nil {
		return err
	}
	commits := make(map[string]map[int32]committedOffset)
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if topics != nil && !topics[t.Topic].has(p.Partition) {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			var md string
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > maxMetadataBytes {
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := p.LeaderEpoch
			if req.Version < 6 {
				epoch = -1
			}
			if commits[t.Topic] == nil {
				commits[t.Topic] = make(map[int32]committedOffset)
			}
			commits[t.Topic][p.Partition] = committedOffset{Offset: p.Offset, LeaderEpoch: epoch, Metadata: md, CommitTime: arrival, TopicID: topics[t.Topic].id}
		}
	}
	if len(commits) == 0 {
		return nil
	}
	refused, err := c.commitOffsets(ctx, req.Group, commits, topics)
	if err != nil {
		return err
	}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if code, ok := refused[t.Topic][p.Partition]; ok {
				codes[i][j] = code
			}
		}
	}
	return nil
}
