package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18), v0-5.
//
// Lists supportedAPIs. v3 (KIP-511) adds the client's software name and
// version, which siesta accepts and ignores, and flexible encoding; the
// response header stays v0 at every version. v4 changes nothing on the
// wire. v5 (KIP-1242) lets a reconnecting client say which cluster and node
// it expects; a mismatch gets REBOOTSTRAP_REQUIRED. A request newer than
// v5 gets a v0 UNSUPPORTED_VERSION answer that still lists the APIs (see
// conn.go), so the client can retry at a version we speak.

func (s *Server) handleApiVersions(ctx context.Context, req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionKeys()
	if req.Version >= 5 {
		resp.ErrorCode = s.checkExpectedNode(ctx, req.ClusterID, req.NodeID)
	}
	return resp
}

// checkExpectedNode answers KIP-1242's question: is this the cluster and
// node the client meant to reach?
func (s *Server) checkExpectedNode(ctx context.Context, clusterID *string, nodeID int32) int16 {
	switch {
	case clusterID == nil && nodeID == -1:
		return 0 // bootstrapping
	case clusterID == nil || nodeID == -1:
		return kerr.InvalidRequest.Code
	case nodeID != s.cfg.NodeID:
		return kerr.RebootstrapRequired.Code
	}
	id, err := s.engine.ClusterID(ctx)
	if err != nil {
		return 0 // cannot tell; do not turn a storage hiccup into a rebootstrap
	}
	if id != *clusterID {
		return kerr.RebootstrapRequired.Code
	}
	return 0
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a
// version this broker does not know.
func (s *Server) unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionKeys()
	return resp
}

func apiVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]int16, 0, len(supportedAPIs))
	for k := range supportedAPIs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		v := supportedAPIs[k]
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, v.min, v.max
		out = append(out, ak)
	}
	return out
}
