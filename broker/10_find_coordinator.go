package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator (key 10), v0-4.
//
// Every broker coordinates every group (group state lives in the bucket),
// so the answer is always this broker. Transaction coordinators (key type 1)
// are refused: siesta does not serve transactions, and a non-retriable
// error tells a transactional client so at once. v4 batches keys.

func (s *Server) handleFindCoordinator(ctx context.Context, req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.Advertised()
	answer := func(keyType int8) (int16, *string) {
		if keyType != 0 {
			msg := "siesta does not support transactions"
			return kerr.TransactionalIDAuthorizationFailed.Code, &msg
		}
		return 0, nil
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorType)
		if resp.ErrorCode == 0 {
			resp.NodeID, resp.Host, resp.Port = s.cfg.NodeID, host, port
		} else {
			resp.NodeID = -1
		}
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = answer(req.CoordinatorType)
		if c.ErrorCode == 0 {
			c.NodeID, c.Host, c.Port = s.cfg.NodeID, host, port
		} else {
			c.NodeID = -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}
