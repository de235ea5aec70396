package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
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
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, topicErr := s.engine.Topic(ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, 0
			err := topicErr
			if err == nil {
				switch rp.Timestamp {
				case -1, -2:
					offs, oerr := s.engine.FreshOffsets(ctx, t, rp.Partition)
					err = oerr
					sp.Offset = offs.HighWatermark
					if rp.Timestamp == -2 {
						sp.Offset = offs.LogStart
					}
				case -3:
					sp.Offset, sp.Timestamp, err = s.engine.MaxTimestamp(ctx, t, rp.Partition)
				default:
					sp.Offset, sp.Timestamp, err = s.engine.OffsetForTime(ctx, t, rp.Partition, rp.Timestamp)
				}
			}
			sp.ErrorCode = s.errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
