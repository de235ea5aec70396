package broker

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/broker/group"
	"github.com/siestamq/siesta/objectstore"
)

const apiVersionsKey = 18

// versionRange is the span of versions siesta serves for one API.
type versionRange struct{ min, max int16 }

// supportedAPIs lists every API siesta answers and the versions it serves.
// Minimums follow Kafka 4.0, which dropped the pre-0.11 message formats
// (Produce below v3 and Fetch below v4 carry magic 0/1 message sets).
// Maximums are the newest versions whose semantics siesta implements;
// clients negotiate down to them through ApiVersions.
var supportedAPIs = map[int16]versionRange{
	0:  {3, 11}, // Produce (v12+ adds topic ids)
	1:  {4, 12}, // Fetch (v13+ uses topic ids)
	2:  {1, 7},  // ListOffsets
	3:  {0, 12}, // Metadata
	8:  {0, 8},  // OffsetCommit
	9:  {0, 8},  // OffsetFetch
	10: {0, 4},  // FindCoordinator
	11: {0, 9},  // JoinGroup
	12: {0, 4},  // Heartbeat
	13: {0, 5},  // LeaveGroup
	14: {0, 5},  // SyncGroup
	15: {0, 5},  // DescribeGroups
	16: {0, 4},  // ListGroups
	17: {0, 1},  // SaslHandshake
	18: {0, 5},  // ApiVersions
	19: {0, 7},  // CreateTopics
	20: {0, 6},  // DeleteTopics
	21: {0, 2},  // DeleteRecords
	22: {0, 4},  // InitProducerId
	23: {0, 4},  // OffsetForLeaderEpoch
	32: {0, 4},  // DescribeConfigs
	33: {0, 2},  // AlterConfigs
	36: {0, 2},  // SaslAuthenticate
	37: {0, 3},  // CreatePartitions
	42: {0, 2},  // DeleteGroups
	47: {0, 0},  // OffsetDelete
	44: {0, 1},  // IncrementalAlterConfigs
	60: {0, 1},  // DescribeCluster
}

// handle answers one decoded request. A nil response means none is sent
// (Produce with acks=0).
func (s *Server) handle(ctx context.Context, c *conn, hdr requestHeader, req kmsg.Request) kmsg.Response {
	if !s.supports(hdr) {
		return unsupportedResponse(req)
	}
	if _, ok := req.(kmsg.GroupCoordinatorRequest); ok {
		ctx = group.WithClient(ctx, hdr.clientID, c.remoteHost)
	}
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		return s.startProduce(ctx, r)()
	case *kmsg.FetchRequest:
		return s.handleFetch(ctx, r)
	case *kmsg.ListOffsetsRequest:
		return s.handleListOffsets(ctx, r)
	case *kmsg.MetadataRequest:
		return s.handleMetadata(ctx, r)
	case *kmsg.OffsetCommitRequest:
		return s.groups.OffsetCommit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		return s.groups.OffsetFetch(ctx, r)
	case *kmsg.FindCoordinatorRequest:
		return s.handleFindCoordinator(ctx, r)
	case *kmsg.JoinGroupRequest:
		return s.groups.JoinGroup(ctx, r)
	case *kmsg.HeartbeatRequest:
		return s.groups.Heartbeat(ctx, r)
	case *kmsg.LeaveGroupRequest:
		return s.groups.LeaveGroup(ctx, r)
	case *kmsg.SyncGroupRequest:
		return s.groups.SyncGroup(ctx, r)
	case *kmsg.DescribeGroupsRequest:
		return s.groups.DescribeGroups(ctx, r)
	case *kmsg.ListGroupsRequest:
		return s.groups.ListGroups(ctx, r)
	case *kmsg.ApiVersionsRequest:
		return s.handleApiVersions(ctx, r)
	case *kmsg.SASLHandshakeRequest:
		return c.handleSASLHandshake(r)
	case *kmsg.SASLAuthenticateRequest:
		return c.handleSASLAuthenticate(ctx, r)
	case *kmsg.CreateTopicsRequest:
		return s.handleCreateTopics(ctx, r)
	case *kmsg.DeleteTopicsRequest:
		return s.handleDeleteTopics(ctx, r)
	case *kmsg.DeleteRecordsRequest:
		return s.handleDeleteRecords(ctx, r)
	case *kmsg.InitProducerIDRequest:
		return s.handleInitProducerID(ctx, r)
	case *kmsg.OffsetForLeaderEpochRequest:
		return s.handleOffsetForLeaderEpoch(ctx, r)
	case *kmsg.DescribeConfigsRequest:
		return s.handleDescribeConfigs(ctx, r)
	case *kmsg.CreatePartitionsRequest:
		return s.handleCreatePartitions(ctx, r)
	case *kmsg.DeleteGroupsRequest:
		return s.groups.DeleteGroups(ctx, r)
	case *kmsg.OffsetDeleteRequest:
		return s.groups.OffsetDelete(ctx, r)
	case *kmsg.AlterConfigsRequest:
		return s.handleAlterConfigs(ctx, r)
	case *kmsg.IncrementalAlterConfigsRequest:
		return s.handleIncrementalAlterConfigs(ctx, r)
	case *kmsg.DescribeClusterRequest:
		return s.handleDescribeCluster(ctx, r)
	}
	return unsupportedResponse(req)
}

// supports reports whether siesta serves this API at this version.
func (s *Server) supports(hdr requestHeader) bool {
	r, ok := supportedAPIs[hdr.key]
	return ok && hdr.version >= r.min && hdr.version <= r.max
}

// unsupportedResponse answers an API or version siesta does not serve with
// that API's own response, its top-level error code set to
// UNSUPPORTED_VERSION where the response has one, so the client gets an
// error it can act on instead of a dropped connection.
//
// Produce, Fetch and ListOffsets below siesta's minimums (the magic 0/1 era)
// have no top-level error code, so each partition of the request gets
// UNSUPPORTED_VERSION instead of an empty answer that reads as success.
// Produce with acks=0 gets no answer, as always.
func unsupportedResponse(req kmsg.Request) kmsg.Response {
	resp := req.ResponseKind()
	code := kerr.UnsupportedVersion.Code
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		return produceError(r, resp.(*kmsg.ProduceResponse), code)
	case *kmsg.FetchRequest:
		fr := resp.(*kmsg.FetchResponse)
		fr.ErrorCode = code
		for _, rt := range r.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			fr.Topics = append(fr.Topics, st)
		}
		return fr
	case *kmsg.ListOffsetsRequest:
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				sp.Timestamp, sp.Offset = -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			lr.Topics = append(lr.Topics, st)
		}
		return lr
	}
	v := reflect.ValueOf(resp).Elem()
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.CanSet() {
		f.SetInt(int64(code))
	}
	return resp
}

// errorCode maps an engine error to its Kafka error code. It is the one
// place where siesta decides which code a failure gets.
func (s *Server) errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, objectstore.ErrUnknownTopicID):
		return kerr.UnknownTopicID.Code
	case errors.Is(err, objectstore.ErrUnknownTopic), errors.Is(err, objectstore.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, objectstore.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, objectstore.ErrInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, objectstore.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, objectstore.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, objectstore.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, objectstore.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, objectstore.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, objectstore.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, objectstore.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, objectstore.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, errInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errRepeated):
		return kerr.InvalidRequest.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	// Anything else is the storage failing: retriable for the client.
	s.log.Warn("storage error", "err", err)
	return kerr.KafkaStorageError.Code
}

// errorMessage is err's text for responses that carry one, or nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	return &msg
}

// topicID decodes a topic's stored hex id into Kafka's 16 bytes.
func topicID(t objectstore.Topic) [16]byte {
	var id [16]byte
	_, _ = hex.Decode(id[:], []byte(t.ID)) // ids are written by CreateTopic as 32 hex digits
	return id
}

// topicIDString is the stored form of a Kafka topic id.
func topicIDString(id [16]byte) string { return hex.EncodeToString(id[:]) }

// lookupTopic finds a topic, creating it with the default partition count
// when allowed and auto-creation is on.
func (s *Server) lookupTopic(ctx context.Context, name string, allowCreate bool) (objectstore.Topic, error) {
	t, err := s.engine.Topic(ctx, name)
	if !errors.Is(err, objectstore.ErrUnknownTopic) || !allowCreate || !s.cfg.AutoCreateTopics {
		return t, err
	}
	t, err = s.engine.CreateTopic(ctx, name, s.cfg.DefaultPartitions, nil)
	if errors.Is(err, objectstore.ErrTopicExists) {
		return s.engine.Topic(ctx, name) // another request or broker won the race
	}
	if err == nil {
		s.log.Info("auto-created topic", "topic", name, "partitions", t.Partitions)
	}
	return t, err
}
