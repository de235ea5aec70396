package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// CreatePartitions: v0-3
//
// Raises a topic's partition count to Count, with compare-and-swap on the
// topic's metadata object so brokers racing on one topic cannot lose an
// update. A count at or below the current one is INVALID_PARTITIONS with a
// message saying the current count. An Assignment, if given, must have one
// non-empty entry per new partition (INVALID_REPLICA_ASSIGNMENT otherwise);
// its broker ids are ignored since every broker serves every partition.
// ValidateOnly checks against the current count and changes nothing. A
// topic named twice in one request gets INVALID_REQUEST.
//
// Version notes:
// * v1: nothing new for the broker (throttling)
// * v2: flexible versions
// * v3: nothing new for the broker (KIP-599 throttling errors)
func (s *Server) handleCreatePartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	topic := func(rt kmsg.CreatePartitionsRequestTopic) string { return rt.Topic }
	eachOnce(req.Topics, topic, func(rt kmsg.CreatePartitionsRequestTopic, repeated error) {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		code, err := s.errorCode(repeated), repeated
		if repeated == nil {
			code, err = s.createPartitions(ctx, rt, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = code, errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	})
	return resp
}

func (s *Server) createPartitions(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) (int16, error) {
	t, err := s.engine.Topic(ctx, rt.Topic)
	if err != nil {
		return s.errorCode(err), err
	}
	if rt.Count <= t.Partitions || rt.Count > objectstore.MaxPartitions {
		err := fmt.Errorf("%w: topic %s has %d partitions; the new count must be more, and at most %d, not %d",
			objectstore.ErrInvalidPartitions, rt.Topic, t.Partitions, objectstore.MaxPartitions, rt.Count)
		return s.errorCode(err), err
	}
	if rt.Assignment != nil {
		if add := rt.Count - t.Partitions; int32(len(rt.Assignment)) != add {
			return kerr.InvalidReplicaAssignment.Code,
				fmt.Errorf("adding %d partitions but the assignment has %d", add, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if len(a.Replicas) == 0 {
				return kerr.InvalidReplicaAssignment.Code, fmt.Errorf("new partition %d has no replicas", t.Partitions+int32(i))
			}
		}
	}
	if validateOnly {
		return 0, nil
	}
	// The engine checks the count again against the freshly read topic.
	updated, err := s.engine.CreatePartitions(ctx, rt.Topic, rt.Count)
	if err != nil {
		return s.errorCode(err), err
	}
	s.log.Info("added partitions", "topic", rt.Topic, "partitions", updated.Partitions)
	return 0, nil
}
