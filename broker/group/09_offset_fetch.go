package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (API key 9), versions 0-8.
//
// Returns the committed offset, leader epoch and metadata of each requested
// partition, or offset -1, epoch -1 and empty metadata for a partition with
// no commit (and for an unknown group). Offsets are read from the bucket, so
// they are the same on every broker and survive restarts. A commit made
// to a topic since deleted is no commit, even if a topic of the same name
// was created again.
//
//   - v2: null Topics fetches every committed partition; a top-level
//     ErrorCode (v0-v1 report group errors on each partition).
//   - v5: LeaderEpoch. v7: RequireStable (always stable: siesta has no
//     pending transactional offsets here).
//   - v8: batched by group (Groups), each with its own ErrorCode.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{t.Topic, t.Partitions})
				}
			}
			got, code := c.fetchOffsets(ctx, rg.Group, topics)
			g := kmsg.OffsetFetchResponseGroup{Group: rg.Group, ErrorCode: code}
			for _, t := range got {
				gt := kmsg.OffsetFetchResponseGroupTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					gt.Partitions = append(gt.Partitions, kmsg.OffsetFetchResponseGroupTopicPartition(p))
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}

	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{t.Topic, t.Partitions})
		}
	}
	got, code := c.fetchOffsets(ctx, req.Group, topics)
	resp.Topics = got
	resp.ErrorCode = code
	if req.Version < 2 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if code != 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
	}
	return resp
}

type fetchTopic struct {
	topic      string
	partitions []int32
}

// fetchOffsets answers for one group. topics nil means every committed
// partition. On a group-level error it still lists the requested
// partitions, with offset -1, so that v0-v1 can carry the error on them.
func (c *Coordinator) fetchOffsets(ctx context.Context, group string, topics []fetchTopic) ([]kmsg.OffsetFetchResponseTopic, int16) {
	var (
		doc *offsetsDoc
		err error
	)
	if group == "" {
		err = kerr.InvalidGroupID
	} else {
		doc, _, _, err = c.readOffsets(ctx, group)
	}
	code := c.errorCode("offset fetch", group, err)
	if err != nil {
		doc = &offsetsDoc{}
	}
	var infos map[string]topicInfo
	if err == nil {
		names := make([]string, 0, max(len(topics), len(doc.Topics)))
		for _, t := range topics {
			names = append(names, t.topic)
		}
		if topics == nil {
			for topic := range doc.Topics {
				names = append(names, topic)
			}
		}
		if infos, err = c.lookupTopics(ctx, names); err != nil {
			code = c.errorCode("offset fetch", group, err)
			doc = &offsetsDoc{}
		}
	}
	if topics == nil && err == nil {
		for topic, parts := range doc.Topics {
			ft := fetchTopic{topic: topic}
			for p, o := range parts {
				if current(o, infos, topic) {
					ft.partitions = append(ft.partitions, p)
				}
			}
			if len(ft.partitions) == 0 {
				continue
			}
			slices.Sort(ft.partitions)
			topics = append(topics, ft)
		}
		slices.SortFunc(topics, func(a, b fetchTopic) int { return strings.Compare(a.topic, b.topic) })
	}
	out := make([]kmsg.OffsetFetchResponseTopic, 0, len(topics))
	for _, t := range topics {
		rt := kmsg.OffsetFetchResponseTopic{Topic: t.topic}
		for _, p := range t.partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition = p
			rp.Offset = -1
			rp.Metadata = kmsg.StringPtr("")
			if o, ok := doc.Topics[t.topic][p]; ok && current(o, infos, t.topic) {
				rp.Offset = o.Offset
				rp.LeaderEpoch = o.LeaderEpoch
				rp.Metadata = kmsg.StringPtr(o.Metadata)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out, code
}
