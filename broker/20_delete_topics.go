package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// DeleteTopics: v0-6
//
// Any broker deletes topics: once the topic's metadata object is gone the
// topic is gone for every broker, and its data objects are removed after.
// A topic named (or identified) twice in one request gets INVALID_REQUEST;
// an unknown name UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID.
//
// Version notes:
// * v1: ThrottleMillis
// * v4: flexible versions
// * v5: ErrorMessage in the response
// * v6: topics by name or by TopicID (KIP-516); TopicID in the response
func (s *Server) handleDeleteTopics(ctx context.Context, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	wanted := req.Topics
	if req.Version < 6 {
		wanted = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			wanted = append(wanted, rt)
		}
	}
	// A name or id asked for twice is refused, once, in place of both.
	eachOnce(wanted, deleteKey, func(rt kmsg.DeleteTopicsRequestTopic, repeated error) {
		if repeated == nil {
			resp.Topics = append(resp.Topics, s.deleteTopic(ctx, rt))
			return
		}
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.ErrorCode, st.ErrorMessage = s.errorCode(repeated), errorMessage(repeated)
		resp.Topics = append(resp.Topics, st)
	})
	return resp
}

// deleteKey identifies a topic to delete: its name, else its id.
func deleteKey(rt kmsg.DeleteTopicsRequestTopic) string {
	if rt.Topic != nil {
		return *rt.Topic
	}
	return "id " + topicIDString(rt.TopicID)
}

func (s *Server) deleteTopic(ctx context.Context, rt kmsg.DeleteTopicsRequestTopic) kmsg.DeleteTopicsResponseTopic {
	st := kmsg.NewDeleteTopicsResponseTopic()
	st.Topic, st.TopicID = rt.Topic, rt.TopicID
	var (
		t   objectstore.Topic
		err error
	)
	byID := rt.Topic == nil
	switch {
	case !byID:
		t, err = s.engine.Topic(ctx, *rt.Topic)
	case rt.TopicID == [16]byte{}:
		st.ErrorCode = kerr.InvalidRequest.Code
		st.ErrorMessage = errorMessage(errors.New("a topic to delete needs a name or an id"))
		return st
	default:
		t, err = s.engine.TopicByID(ctx, topicIDString(rt.TopicID))
	}
	if err == nil {
		name := t.Name
		st.Topic, st.TopicID = &name, topicID(t)
		err = s.engine.DeleteTopic(ctx, t.Name)
	}
	if err != nil {
		st.ErrorCode, st.ErrorMessage = s.errorCode(err), errorMessage(err)
		return st
	}
	s.log.Info("deleted topic", "topic", t.Name)
	return st
}
