package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords: v0-2
//
// Moves each partition's log start offset up to the requested offset (-1:
// the high watermark) and answers the new log start as LowWatermark. The
// log start is stored in the bucket, so every broker sees the records as
// gone at once; objects wholly below it are deleted after. An offset below
// the current log start leaves it where it is; one past the high watermark
// is OFFSET_OUT_OF_RANGE. A failed partition answers LowWatermark -1.
//
// Version notes:
// * v1: nothing new for the broker (throttling)
// * v2: flexible versions
func (s *Server) handleDeleteRecords(ctx context.Context, req *kmsg.DeleteRecordsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, terr := s.engine.Topic(ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			err := terr
			if err == nil {
				sp.LowWatermark, err = s.engine.DeleteRecords(ctx, t, rp.Partition, rp.Offset)
			}
			if err != nil {
				sp.LowWatermark, sp.ErrorCode = -1, s.errorCode(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
