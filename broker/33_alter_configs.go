package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs (key 33), v0-2.
//
// The older, non-incremental form that kafka-python's alter_configs,
// sarama's ClusterAdmin.AlterConfig and kadm's AlterTopicConfigsState
// send: a topic's configs become exactly the ones listed, and every other
// returns to its default. It is IncrementalAlterConfigs with one SET per
// listed config, applied to an empty set instead of the topic's, with the
// same checks and errors (a null value is INVALID_REQUEST, a bad name or
// value INVALID_CONFIG, brokers INVALID_REQUEST).
//
// Version notes:
// * v1: no change. v2: flexible versions.
func (s *Server) handleAlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	type resource struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	key := func(rr kmsg.AlterConfigsRequestResource) resource {
		return resource{rr.ResourceType, rr.ResourceName}
	}
	eachOnce(req.Resources, key, func(rr kmsg.AlterConfigsRequestResource, repeated error) {
		code, err := s.errorCode(repeated), repeated
		if repeated == nil {
			code, err = s.alterConfigs(ctx, setEach(rr), req.ValidateOnly, true)
		}
		r := kmsg.NewAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		r.ErrorCode, r.ErrorMessage = code, errorMessage(err)
		resp.Resources = append(resp.Resources, r)
	})
	return resp
}

// setEach is rr as IncrementalAlterConfigs operations: one SET per config.
func setEach(rr kmsg.AlterConfigsRequestResource) kmsg.IncrementalAlterConfigsRequestResource {
	out := kmsg.NewIncrementalAlterConfigsRequestResource()
	out.ResourceType, out.ResourceName = rr.ResourceType, rr.ResourceName
	for _, c := range rr.Configs {
		op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		op.Name, op.Op, op.Value = c.Name, kmsg.IncrementalAlterConfigOpSet, c.Value
		out.Configs = append(out.Configs, op)
	}
	return out
}
