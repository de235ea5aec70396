package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// CreateTopics: v0-7
//
// Any broker creates topics: the topic's metadata object in the bucket is
// the truth, and two brokers creating one topic at once give one of them
// TOPIC_ALREADY_EXISTS. NumPartitions -1 takes the broker's default; a
// ReplicaAssignment (with NumPartitions and ReplicationFactor -1) gives the
// partition count by its length, its broker ids otherwise ignored since
// every broker serves every partition. Configs are checked against the
// known topic configs (configs.go) and refused with INVALID_CONFIG. A name
// that appears twice in one request gets INVALID_REQUEST.
//
// Replication factor: the bucket's durability is the replication, so any
// positive factor, or -1, is accepted. The response echoes the factor as
// requested (1 for -1) so clients that check it see what they asked for;
// it is not stored, and Metadata always shows the one broker asked.
//
// Version notes:
// * v1: ValidateOnly, ErrorMessage
// * v2: ThrottleMillis
// * v4: -1 NumPartitions and ReplicationFactor mean broker defaults (KIP-464)
// * v5: NumPartitions, ReplicationFactor and Configs in the response, flexible
// * v7: TopicID in the response
func (s *Server) handleCreateTopics(ctx context.Context, req *kmsg.CreateTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	topic := func(rt kmsg.CreateTopicsRequestTopic) string { return rt.Topic }
	eachOnce(req.Topics, topic, func(rt kmsg.CreateTopicsRequestTopic, repeated error) {
		if repeated == nil {
			resp.Topics = append(resp.Topics, s.createTopic(ctx, &rt, req.ValidateOnly))
			return
		}
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.ErrorCode, st.ErrorMessage = s.errorCode(repeated), errorMessage(repeated)
		resp.Topics = append(resp.Topics, st)
	})
	return resp
}

// createTopic creates (or with validateOnly, only checks) one topic.
func (s *Server) createTopic(ctx context.Context, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	fail := func(code int16, err error) kmsg.CreateTopicsResponseTopic {
		st.ErrorCode, st.ErrorMessage = code, errorMessage(err)
		return st
	}

	partitions, rf := rt.NumPartitions, rt.ReplicationFactor
	if len(rt.ReplicaAssignment) > 0 {
		if partitions != -1 || rf != -1 {
			return fail(kerr.InvalidRequest.Code, errors.New("with a replica assignment, NumPartitions and ReplicationFactor must be -1"))
		}
		if err := checkReplicaAssignment(rt.ReplicaAssignment); err != nil {
			return fail(kerr.InvalidReplicaAssignment.Code, err)
		}
		partitions = int32(len(rt.ReplicaAssignment))
		rf = int16(len(rt.ReplicaAssignment[0].Replicas))
	}
	if partitions == -1 {
		partitions = s.cfg.DefaultPartitions
	}
	if rf == -1 {
		rf = 1
	}
	if rf < 1 {
		return fail(kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor %d: must be -1 or positive", rt.ReplicationFactor))
	}
	if partitions < 1 || partitions > objectstore.MaxPartitions {
		err := fmt.Errorf("%w: %d (1 to %d, or -1 for the default)", objectstore.ErrInvalidPartitions, partitions, objectstore.MaxPartitions)
		return fail(s.errorCode(err), err)
	}
	configs, err := validateCreateConfigs(rt.Configs)
	if err != nil {
		return fail(s.errorCode(err), err)
	}

	if validateOnly {
		if err := objectstore.ValidateTopicName(rt.Topic); err != nil {
			return fail(s.errorCode(err), err)
		}
		_, err := s.engine.Topic(ctx, rt.Topic)
		switch {
		case err == nil:
			err = fmt.Errorf("topic %s: %w", rt.Topic, objectstore.ErrTopicExists)
			return fail(s.errorCode(err), err)
		case !errors.Is(err, objectstore.ErrUnknownTopic):
			return fail(s.errorCode(err), err)
		}
	} else {
		t, err := s.engine.CreateTopic(ctx, rt.Topic, partitions, configs)
		if err != nil {
			return fail(s.errorCode(err), err)
		}
		st.TopicID = topicID(t)
		s.log.Info("created topic", "topic", t.Name, "partitions", t.Partitions)
	}

	st.NumPartitions = partitions
	st.ReplicationFactor = rf
	for _, e := range topicConfigEntries(configs) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = e.name
		c.Value = &e.value
		c.ReadOnly = e.readOnly
		c.Source = int8(e.source)
		st.Configs = append(st.Configs, c)
	}
	return st
}

// checkReplicaAssignment applies Kafka's shape rules: partitions 0 to n-1,
// each once, each with the same non-zero number of distinct replicas.
func checkReplicaAssignment(ra []kmsg.CreateTopicsRequestTopicReplicaAssignment) error {
	if len(ra) > objectstore.MaxPartitions {
		return fmt.Errorf("%d partitions: at most %d", len(ra), objectstore.MaxPartitions)
	}
	seen := make([]bool, len(ra))
	for _, a := range ra {
		if a.Partition < 0 || int(a.Partition) >= len(ra) || seen[a.Partition] {
			return fmt.Errorf("partitions must be numbered 0 to %d, each once; got %d", len(ra)-1, a.Partition)
		}
		seen[a.Partition] = true
		if len(a.Replicas) == 0 || len(a.Replicas) != len(ra[0].Replicas) {
			return fmt.Errorf("partition %d: every partition needs the same, non-zero number of replicas", a.Partition)
		}
		for i, r := range a.Replicas {
			for _, other := range a.Replicas[:i] {
				if r == other {
					return fmt.Errorf("partition %d: broker %d listed twice", a.Partition, r)
				}
			}
		}
	}
	return nil
}
