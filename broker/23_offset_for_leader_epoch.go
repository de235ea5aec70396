package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: v0-4
//
// Consumers ask this after a leader change to learn whether the log they
// read was truncated. siesta's logs are never truncated and its leader
// epoch is always 0, so any requested epoch >= 0 is answered with epoch 0
// and the high watermark as its end offset: the end of epoch 0 is the end
// of the log. An epoch above 0 (from a client that once talked to real
// Kafka) has no such epoch here; answering epoch 0 at the high watermark
// tells the client that nothing it read was lost, which is true. A
// negative requested epoch is answered with Kafka's "undefined" -1/-1.
// CurrentLeaderEpoch (v2+), when set, must be 0: a larger one is
// UNKNOWN_LEADER_EPOCH, as Kafka answers a client ahead of the broker.
//
// Version notes:
// * v1: LeaderEpoch in the response
// * v2: CurrentLeaderEpoch for fencing (KIP-320), ThrottleMillis
// * v3: ReplicaID (followers only; consumers send -1)
// * v4: flexible versions
func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, req *kmsg.OffsetForLeaderEpochRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t, terr := s.engine.Topic(ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			if terr != nil {
				sp.ErrorCode = s.errorCode(terr)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			offsets, err := s.engine.Offsets(ctx, t, rp.Partition)
			switch {
			case err != nil:
				sp.ErrorCode = s.errorCode(err)
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			case rp.LeaderEpoch >= 0:
				sp.LeaderEpoch = 0
				sp.EndOffset = offsets.HighWatermark
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
