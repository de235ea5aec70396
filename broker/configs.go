package broker

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// errInvalidConfig marks a config name or value siesta refuses; errorCode
// answers it with INVALID_CONFIG, and the wrapped text says which and why.
var errInvalidConfig = errors.New("invalid config")

// topicConfigDef is one topic config siesta knows: its Kafka type and
// default, and how a value is checked.
type topicConfigDef struct {
	name string
	typ  kmsg.ConfigType
	def  string
	// min is the smallest value an int or long config accepts.
	min int64
	// allowed lists the values a string config, or each element of a list
	// config, may take; nil accepts any.
	allowed []string
	// check refuses values that parse but that siesta cannot honour.
	check func(value string) error
}

func longConfig(name string, def, min int64) topicConfigDef {
	return topicConfigDef{name: name, typ: kmsg.ConfigTypeLong, def: strconv.FormatInt(def, 10), min: min}
}

func intConfig(name string, def, min int64) topicConfigDef {
	return topicConfigDef{name: name, typ: kmsg.ConfigTypeInt, def: strconv.FormatInt(def, 10), min: min}
}

func boolConfig(name string, def bool) topicConfigDef {
	return topicConfigDef{name: name, typ: kmsg.ConfigTypeBoolean, def: strconv.FormatBool(def)}
}

// topicConfigDefs are the topic configs siesta accepts, sorted by name,
// with Kafka's types, defaults and lower bounds. Most are stored and
// reported but have no effect yet: the bucket is the replication, objects
// are the segments, and writes are durable when acknowledged.
var topicConfigDefs = []topicConfigDef{
	// Accepted and stored; siesta does not compact yet, so "compact"
	// topics keep every record until retention or DeleteRecords removes it.
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, def: "delete", allowed: []string{"delete", "compact"}},
	// producer keeps each batch as sent; a codec makes siesta store
	// batches in it, compressing again those sent in another.
	{name: "compression.type", typ: kmsg.ConfigTypeString, def: "producer",
		allowed: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}},
	longConfig("delete.retention.ms", 86400000, 0),
	longConfig("file.delete.delay.ms", 60000, 0),
	longConfig("flush.messages", math.MaxInt64, 1),
	longConfig("flush.ms", math.MaxInt64, 0),
	intConfig("index.interval.bytes", 4096, 0),
	intConfig("max.message.bytes", objectstore.DefaultMaxMessageBytes, 0), // enforced on Produce
	longConfig("message.timestamp.after.max.ms", math.MaxInt64, 0),
	longConfig("message.timestamp.before.max.ms", math.MaxInt64, 0),
	// LogAppendTime: each batch is stamped when a broker queues it.
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, def: "CreateTime",
		allowed: []string{"CreateTime", "LogAppendTime"}},
	longConfig("min.compaction.lag.ms", 0, 0),
	intConfig("min.insync.replicas", 1, 1),
	boolConfig("preallocate", false),
	longConfig("retention.bytes", -1, math.MinInt64),
	longConfig("retention.ms", 604800000, -1), // -1 keeps records forever
	intConfig("segment.bytes", 1073741824, 14),
	longConfig("segment.ms", 604800000, 1),
	boolConfig("unclean.leader.election.enable", false),
}

var topicConfigByName = func() map[string]*topicConfigDef {
	m := make(map[string]*topicConfigDef, len(topicConfigDefs))
	for i := range topicConfigDefs {
		m[topicConfigDefs[i].name] = &topicConfigDefs[i]
	}
	return m
}()

// validateTopicConfig checks one topic config and returns the value to
// store: list values are trimmed and deduplicated, booleans lowercased.
func validateTopicConfig(name string, value *string) (string, error) {
	def, ok := topicConfigByName[name]
	if !ok {
		return "", fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, name)
	}
	if value == nil {
		return "", fmt.Errorf("%w: %s: null value", errInvalidConfig, name)
	}
	v := strings.TrimSpace(*value)
	bad := func(why string) error {
		return fmt.Errorf("%w: %s=%q: %s", errInvalidConfig, name, *value, why)
	}
	switch def.typ {
	case kmsg.ConfigTypeLong, kmsg.ConfigTypeInt:
		bits, kind := 64, "a long"
		if def.typ == kmsg.ConfigTypeInt {
			bits, kind = 32, "an int"
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return "", bad("not " + kind)
		}
		if n < def.min {
			return "", bad(fmt.Sprintf("must be at least %d", def.min))
		}
		v = strconv.FormatInt(n, 10)
	case kmsg.ConfigTypeBoolean:
		v = strings.ToLower(v)
		if v != "true" && v != "false" {
			return "", bad("not true or false")
		}
	case kmsg.ConfigTypeString:
		if def.allowed != nil && !slices.Contains(def.allowed, v) {
			return "", bad("must be one of " + strings.Join(def.allowed, ", "))
		}
	case kmsg.ConfigTypeList:
		items := splitList(v)
		if len(items) == 0 {
			return "", bad("must name at least one of " + strings.Join(def.allowed, ", "))
		}
		for _, it := range items {
			if def.allowed != nil && !slices.Contains(def.allowed, it) {
				return "", bad(fmt.Sprintf("%q is not one of %s", it, strings.Join(def.allowed, ", ")))
			}
		}
		v = strings.Join(items, ",")
	}
	if def.check != nil {
		if err := def.check(v); err != nil {
			return "", bad(err.Error())
		}
	}
	return v, nil
}

// splitList parses a list config: comma-separated, spaces trimmed, empty
// elements and repeats dropped, order kept.
func splitList(v string) []string {
	var out []string
	for it := range strings.SplitSeq(v, ",") {
		it = strings.TrimSpace(it)
		if it != "" && !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	return out
}

// validateCreateConfigs checks the configs of a CreateTopics topic and
// returns them as stored. A name given twice keeps its last value.
func validateCreateConfigs(cfgs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(cfgs))
	for _, c := range cfgs {
		v, err := validateTopicConfig(c.Name, c.Value)
		if err != nil {
			return nil, err
		}
		out[c.Name] = v
	}
	return out, nil
}

// applyConfigOps returns current with IncrementalAlterConfigs operations
// applied in order, every changed value validated; current is not
// modified. APPEND and SUBTRACT work on list configs, starting from the
// default when the topic does not set one, as Kafka does. The caller has
// already refused unknown ops and null values.
func applyConfigOps(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	next := maps.Clone(current)
	if next == nil {
		next = make(map[string]string)
	}
	for _, op := range ops {
		def, known := topicConfigByName[op.Name]
		if op.Op == kmsg.IncrementalAlterConfigOpDelete {
			// Deleting a name siesta does not know is allowed when the
			// topic has it, so such leftovers can be cleaned up.
			if _, stored := next[op.Name]; !known && !stored {
				return nil, fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, op.Name)
			}
			delete(next, op.Name)
			continue
		}
		if !known {
			return nil, fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, op.Name)
		}
		value := op.Value
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.typ != kmsg.ConfigTypeList {
				return nil, fmt.Errorf("%w: %s is not a list config; APPEND and SUBTRACT apply only to lists", errInvalidConfig, op.Name)
			}
			cur, ok := next[op.Name]
			if !ok {
				cur = def.def
			}
			items := splitList(cur)
			for _, it := range splitList(*op.Value) {
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(items, it) {
					items = append(items, it)
				}
				if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			joined := strings.Join(items, ",")
			value = &joined
		}
		v, err := validateTopicConfig(op.Name, value)
		if err != nil {
			return nil, err
		}
		next[op.Name] = v
	}
	return next, nil
}

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	name     string
	value    string
	typ      kmsg.ConfigType
	source   kmsg.ConfigSource
	readOnly bool
	// def is the default, reported as a synonym when the value is not it.
	def string
}

func (c configEntry) isDefault() bool { return c.source == kmsg.ConfigSourceDefaultConfig }

// topicConfigEntries lists every known topic config with the value a
// topic with the stored configs set has, sorted by name.
func topicConfigEntries(set map[string]string) []configEntry {
	out := make([]configEntry, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		e := configEntry{name: d.name, value: d.def, typ: d.typ, source: kmsg.ConfigSourceDefaultConfig, def: d.def}
		if v, ok := set[d.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries lists this broker's settings that clients look at,
// each with Kafka's default so that the source says whether siesta differs.
// All are read-only: they come from flags and the environment.
func (s *Server) brokerConfigEntries() []configEntry {
	static := func(name, value string, typ kmsg.ConfigType, def string) configEntry {
		src := kmsg.ConfigSourceStaticBrokerConfig
		if value == def {
			src = kmsg.ConfigSourceDefaultConfig
		}
		return configEntry{name: name, value: value, typ: typ, source: src, readOnly: true, def: def}
	}
	i32 := func(n int32) string { return strconv.FormatInt(int64(n), 10) }
	maxMessageBytes := strconv.Itoa(objectstore.DefaultMaxMessageBytes)
	return []configEntry{
		static("auto.create.topics.enable", strconv.FormatBool(s.cfg.AutoCreateTopics), kmsg.ConfigTypeBoolean, "true"),
		static("broker.id", i32(s.cfg.NodeID), kmsg.ConfigTypeInt, "-1"),
		static("default.replication.factor", "1", kmsg.ConfigTypeInt, "1"),
		static("log.retention.ms", "604800000", kmsg.ConfigTypeLong, "604800000"),
		static("message.max.bytes", maxMessageBytes, kmsg.ConfigTypeInt, maxMessageBytes),
		static("num.partitions", i32(s.cfg.DefaultPartitions), kmsg.ConfigTypeInt, "1"),
		static("offsets.topic.replication.factor", "1", kmsg.ConfigTypeShort, "3"),
	}
}
