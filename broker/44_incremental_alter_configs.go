package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// IncrementalAlterConfigs: v0-1
//
// Topics (resource type 2): each config is changed by SET (0), DELETE (1,
// back to the default), APPEND (2) or SUBTRACT (3); the last two work on
// list configs such as cleanup.policy, starting from the default when the
// topic does not set it. Every resulting value is checked (configs.go) and
// the resource's operations apply all or nothing, written with
// compare-and-swap on the topic's metadata object. ValidateOnly checks
// against the current configs and writes nothing. An unknown op, a null
// value for anything but DELETE, a config named twice in one resource or
// a resource named twice in one request is INVALID_REQUEST; a bad name or
// value is INVALID_CONFIG.
//
// Brokers (type 4) are INVALID_REQUEST: their settings are flags and
// environment, read at start.
//
// Version notes:
// * v1: flexible versions
func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	alterEach(s, req.Resources,
		func(rr kmsg.IncrementalAlterConfigsRequestResource) configResource {
			return configResource{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.IncrementalAlterConfigsRequestResource) (int16, error) {
			return s.alterConfigs(ctx, rr, req.ValidateOnly, false)
		},
		func(id configResource, code int16, msg *string) {
			r := kmsg.NewIncrementalAlterConfigsResponseResource()
			r.ResourceType, r.ResourceName, r.ErrorCode, r.ErrorMessage = id.typ, id.name, code, msg
			resp.Resources = append(resp.Resources, r)
		})
	return resp
}

// configResource names one resource of a request altering configs.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// alterEach applies each resource of an alter request once (a resource
// named twice is answered INVALID_REQUEST and not applied) and hands the
// outcome of each to answer, in request order.
func alterEach[R any](s *Server, resources []R, id func(R) configResource, apply func(R) (int16, error), answer func(configResource, int16, *string)) {
	eachOnce(resources, id, func(rr R, repeated error) {
		code, err := s.errorCode(repeated), repeated
		if repeated == nil {
			code, err = apply(rr)
		}
		answer(id(rr), code, errorMessage(err))
	})
}

// alterConfigs applies one resource's operations. With replace, they
// apply to no configs at all rather than the topic's, so that the topic
// ends with exactly what they set (AlterConfigs).
func (s *Server) alterConfigs(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly, replace bool) (int16, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return kerr.InvalidRequest.Code, errors.New("siesta's broker settings come from flags and environment")
	default:
		return kerr.InvalidRequest.Code, fmt.Errorf("resource type %d is not supported", rr.ResourceType)
	}
	if err := checkConfigOps(rr.Configs); err != nil {
		return kerr.InvalidRequest.Code, err
	}
	base := func(configs map[string]string) map[string]string {
		if replace {
			return nil
		}
		return configs
	}
	if validateOnly {
		t, err := s.engine.Topic(ctx, rr.ResourceName)
		if err == nil {
			_, err = applyConfigOps(base(t.Configs), rr.Configs)
		}
		return s.errorCode(err), err
	}
	_, err := s.engine.UpdateTopicConfigs(ctx, rr.ResourceName, func(configs map[string]string) error {
		next, err := applyConfigOps(base(configs), rr.Configs)
		if err != nil {
			return err
		}
		// Only now, with every op valid, is the topic's map changed.
		clear(configs)
		maps.Copy(configs, next)
		return nil
	})
	if err != nil {
		return s.errorCode(err), err
	}
	s.log.Info("altered topic configs", "topic", rr.ResourceName)
	return 0, nil
}

// checkConfigOps refuses what Kafka refuses as a malformed request before
// looking at names and values.
func checkConfigOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return fmt.Errorf("config %s appears more than once", op.Name)
		}
		seen[op.Name] = true
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpDelete:
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if op.Value == nil {
				return fmt.Errorf("config %s: null value for %s", op.Name, op.Op)
			}
		default:
			return fmt.Errorf("config %s: unknown operation %d", op.Name, op.Op)
		}
	}
	return nil
}
