package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1
//
// Answers the cluster id stored in the bucket and one broker, the one asked,
// which is also the controller: every siesta broker serves every partition
// and can do any admin operation, so a client needs no other. There are no
// ACLs: when the client asks for the cluster's authorized operations, it is
// told every cluster operation is allowed.
//
// Version notes:
// * v1: EndpointType (KIP-919); only brokers (1), else UNSUPPORTED_ENDPOINT_TYPE
func (s *Server) handleDescribeCluster(ctx context.Context, req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = errorMessage(fmt.Errorf("endpoint type %d: siesta describes brokers (1) only", req.EndpointType))
		return resp
	}
	id, err := s.engine.ClusterID(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.errorCode(err), errorMessage(err)
		return resp
	}
	resp.ClusterID = id
	resp.ControllerID = s.cfg.NodeID
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID = s.cfg.NodeID
	b.Host, b.Port = s.Advertised()
	resp.Brokers = append(resp.Brokers, b)
	if req.IncludeClusterAuthorizedOperations {
		var ops int32
		for _, op := range []kmsg.ACLOperation{
			kmsg.ACLOperationCreate,
			kmsg.ACLOperationAlter,
			kmsg.ACLOperationDescribe,
			kmsg.ACLOperationClusterAction,
			kmsg.ACLOperationDescribeConfigs,
			kmsg.ACLOperationAlterConfigs,
			kmsg.ACLOperationIdempotentWrite,
		} {
			ops |= 1 << op
		}
		resp.ClusterAuthorizedOperations = ops
	}
	return resp
}
