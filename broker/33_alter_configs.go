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
	alterEach(s, req.Resources,
		func(rr kmsg.AlterConfigsRequestResource) configResource {
			return configResource{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.AlterConfigsRequestResource) (int16, error) {
			return s.alterConfigs(ctx, setEach(rr), req.ValidateOnly, true)
		},
		func(id configResource, code int16, msg *string) {
			r := kmsg.NewAlterConfigsResponseResource()
			r.ResourceType, r.ResourceName, r.ErrorCode, r.ErrorMessage = id.typ, id.name, code, msg
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
