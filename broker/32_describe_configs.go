package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs: v0-4
//
// Topics (resource type 2) report every config siesta knows (configs.go):
// the topic's own value with source DYNAMIC_TOPIC_CONFIG, or the default
// with source DEFAULT_CONFIG. Brokers (type 4), named by this broker's
// NodeID, report the read-only settings that come from flags and the
// environment; an empty broker name asks for the cluster's dynamic broker
// defaults, of which siesta has none, so it answers no configs. ConfigNames,
// when not null, keeps only the named configs. Nothing is sensitive.
// Documentation is always null.
//
// Version notes:
// * v1: Source and ConfigSynonyms replace IsDefault; IncludeSynonyms
// * v2: nothing new for the broker (throttling)
// * v3: ConfigType and Documentation; IncludeDocumentation
// * v4: flexible versions
func (s *Server) handleDescribeConfigs(ctx context.Context, req *kmsg.DescribeConfigsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType = rr.ResourceType
		r.ResourceName = rr.ResourceName
		entries, code, err := s.describeResource(ctx, rr)
		r.ErrorCode, r.ErrorMessage = code, errorMessage(err)
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.name) {
				continue
			}
			r.Configs = append(r.Configs, describedConfig(e, req.IncludeSynonyms))
		}
		resp.Resources = append(resp.Resources, r)
	}
	return resp
}

// describeResource returns the configs of one resource, or the error code
// and cause to answer instead.
func (s *Server) describeResource(ctx context.Context, rr kmsg.DescribeConfigsRequestResource) ([]configEntry, int16, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t, err := s.engine.Topic(ctx, rr.ResourceName)
		if err != nil {
			return nil, s.errorCode(err), err
		}
		return topicConfigEntries(t.Configs), 0, nil
	case kmsg.ConfigResourceTypeBroker:
		switch rr.ResourceName {
		case "":
			return nil, 0, nil
		case strconv.Itoa(int(s.cfg.NodeID)):
			return s.brokerConfigEntries(), 0, nil
		}
		return nil, kerr.InvalidRequest.Code,
			fmt.Errorf("broker %q is not this broker (%d); ask it directly", rr.ResourceName, s.cfg.NodeID)
	}
	return nil, kerr.InvalidRequest.Code, fmt.Errorf("resource type %d is not supported", rr.ResourceType)
}

func describedConfig(e configEntry, synonyms bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.name
	c.Value = &e.value
	c.ReadOnly = e.readOnly
	c.IsDefault = e.isDefault()
	c.Source = e.source
	c.ConfigType = e.typ
	if synonyms {
		// As Kafka does: the entry itself first, then what it overrides.
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = e.name, &e.value, e.source
		c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
		if !e.isDefault() {
			def := e.def
			syn.Value, syn.Source = &def, kmsg.ConfigSourceDefaultConfig
			c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
		}
	}
	return c
}
