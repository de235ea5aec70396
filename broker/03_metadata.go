package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/internal/bounded"
	"github.com/siestamq/siesta/objectstore"
)

// Metadata (key 3), v0-12.
//
// siesta is leaderless: every broker serves every partition, so each broker
// describes a one-broker cluster, itself, leading every partition with
// leader epoch 0. Clients connected to different brokers of one bucket each
// see their own broker as the leader, which is what we want.
//
// Requested topics: v0 asks for all topics with an empty list; v1+ with a
// null list. v4+ carries AllowAutoTopicCreation (earlier versions always
// allow it); siesta creates only when SIESTA_AUTO_CREATE_TOPICS is on.
// v10+ may name a topic by id instead of name. v8-10 can ask for authorized
// operations, which siesta does not track (it answers "unknown").

func (s *Server) handleMetadata(ctx context.Context, req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.Advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ControllerID = s.cfg.NodeID
	resp.AuthorizedOperations = -2147483648
	// On a broker that has just started, the cluster id and each topic
	// are a read from the bucket: look them up at once, not one after
	// another (on S3, each is tens of milliseconds of a woken client's
	// first request).
	clusterID := make(chan *string, 1)
	// An idempotent producer asks for a producer id next.
	s.engine.WarmProducerIDs()
	go func() {
		id, err := s.engine.ClusterID(ctx)
		if err != nil {
			clusterID <- nil
			return
		}
		clusterID <- &id
	}()

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		topics, err := s.engine.Topics(ctx)
		if err != nil {
			s.log.Warn("metadata: list topics", "err", err)
		}
		for _, t := range topics {
			resp.Topics = append(resp.Topics, s.metadataTopic(t, nil))
		}
		resp.ClusterID = <-clusterID
		return resp
	}
	allowCreate := req.Version < 4 || req.AllowAutoTopicCreation
	resp.Topics = make([]kmsg.MetadataResponseTopic, len(req.Topics))
	found := make([]objectstore.Topic, len(req.Topics))
	bounded.Run(len(req.Topics), parallelLookups, func(i int) {
		t, err := s.requestedTopic(ctx, req.Topics[i], allowCreate)
		if err == nil {
			found[i] = t
		}
		resp.Topics[i] = s.metadataTopic(t, err)
	})
	// The client produces to or fetches from the topics it named next:
	// a woken broker loads their partitions meanwhile.
	s.engine.Warm(slices.DeleteFunc(found, func(t objectstore.Topic) bool { return t.ID == "" }))
	resp.ClusterID = <-clusterID
	return resp
}

// parallelLookups bounds the topics one Metadata request looks up at once.
const parallelLookups = 8

// requestedTopic looks up a topic a Metadata request names, by name
// (creating it if allowed) or by id.
func (s *Server) requestedTopic(ctx context.Context, rt kmsg.MetadataRequestTopic, allowCreate bool) (objectstore.Topic, error) {
	switch {
	case rt.Topic != nil:
		t, err := s.lookupTopic(ctx, *rt.Topic, allowCreate)
		if err != nil {
			t.Name = *rt.Topic
		}
		return t, err
	case rt.TopicID != [16]byte{}:
		return s.engine.TopicByID(ctx, topicIDString(rt.TopicID))
	}
	return objectstore.Topic{}, objectstore.ErrInvalidTopicName
}

func (s *Server) metadataTopic(t objectstore.Topic, err error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.AuthorizedOperations = -2147483648
	if err != nil {
		mt.ErrorCode = s.errorCode(err)
		if t.Name != "" {
			mt.Topic = &t.Name
		}
		return mt
	}
	name := t.Name
	mt.Topic = &name
	mt.TopicID = topicID(t)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range mt.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = s.cfg.NodeID
		p.LeaderEpoch = 0
		p.Replicas = []int32{s.cfg.NodeID}
		p.ISR = []int32{s.cfg.NodeID}
		mt.Partitions[i] = p
	}
	return mt
}
