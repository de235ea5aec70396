package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/internal/bounded"
	"github.com/siestamq/siesta/objectstore"
)

// ListOffsets (key 2), v1-7.
//
// Special timestamps: -1 latest (the high watermark), -2 earliest (the log
// start offset), -3 the record with the largest timestamp (v7, KIP-734).
// Latest and earliest look at the bucket first, so they include what other
// brokers appended or deleted.
// Any other timestamp finds the first record at or after it, decoding the
// batch (decompressing if needed) to find the exact record. v2 adds the
// isolation level (no transactions: both levels see the same), v4 the
// leader epoch, always 0 here.

func (s *Server) handleListOffsets(ctx context.Context, req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	var lookups []func()
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		t, topicErr := s.engine.Topic(ctx, rt.Topic)
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, 0
			if topicErr != nil {
				sp.ErrorCode = s.errorCode(topicErr)
				continue
			}
			lookups = append(lookups, func() {
				if err := s.listOffset(ctx, t, rp.Timestamp, sp); err != nil {
					sp.ErrorCode = s.errorCode(err)
					sp.Offset, sp.Timestamp = -1, -1
				}
			})
		}
	}
	// Each lookup asks the bucket (a woken broker loads the partition):
	// a client listing many partitions waits for the slowest, not the sum.
	bounded.Run(len(lookups), maxConcurrentLookups, func(i int) { lookups[i]() })
	return resp
}

// maxConcurrentLookups bounds the partitions one request looks up at once.
const maxConcurrentLookups = 16

// listOffset answers one partition of ListOffsets into sp.
func (s *Server) listOffset(ctx context.Context, t objectstore.Topic, timestamp int64, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	switch timestamp {
	case -1, -2:
		offs, err := s.engine.FreshOffsets(ctx, t, sp.Partition)
		sp.Offset = offs.HighWatermark
		if timestamp == -2 {
			sp.Offset = offs.LogStart
		}
		return err
	case -3:
		var err error
		sp.Offset, sp.Timestamp, err = s.engine.MaxTimestamp(ctx, t, sp.Partition)
		return err
	default:
		var err error
		sp.Offset, sp.Timestamp, err = s.engine.OffsetForTime(ctx, t, sp.Partition, timestamp)
		return err
	}
}
