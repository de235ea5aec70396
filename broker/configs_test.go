package broker

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// cfgValue is a config value as requests carry it.
func cfgValue(s string) *string { return &s }

func TestValidateTopicConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value *string
		want  string // stored value; empty means an error is expected
		msg   string // part of the error text
	}{
		{"retention.ms", cfgValue("3600000"), "3600000", ""},
		{"retention.ms", cfgValue("-1"), "-1", ""},
		{"retention.ms", cfgValue(" 42 "), "42", ""},
		{"retention.ms", cfgValue("-2"), "", "at least -1"},
		{"retention.ms", cfgValue("1h"), "", "not a long"},
		{"retention.bytes", cfgValue("-1"), "-1", ""},
		{"retention.bytes", cfgValue("-9223372036854775808"), "-9223372036854775808", ""},
		{"max.message.bytes", cfgValue("2097152"), "2097152", ""},
		{"max.message.bytes", cfgValue("4294967296"), "", "not an int"},
		{"segment.bytes", cfgValue("13"), "", "at least 14"},
		{"min.insync.replicas", cfgValue("0"), "", "at least 1"},
		{"flush.messages", cfgValue("9223372036854775807"), "9223372036854775807", ""},
		{"preallocate", cfgValue("TRUE"), "true", ""},
		{"preallocate", cfgValue("1"), "", "not true or false"},
		{"unclean.leader.election.enable", cfgValue("yes"), "", "not true or false"},
		{"cleanup.policy", cfgValue("compact"), "compact", ""},
		{"cleanup.policy", cfgValue(" compact , delete,compact"), "compact,delete", ""},
		{"cleanup.policy", cfgValue("shred"), "", `"shred" is not one of delete, compact`},
		{"cleanup.policy", cfgValue(" , "), "", "at least one"},
		{"compression.type", cfgValue("zstd"), "zstd", ""},
		{"compression.type", cfgValue("brotli"), "", "must be one of"},
		{"message.timestamp.type", cfgValue("CreateTime"), "CreateTime", ""},
		{"message.timestamp.type", cfgValue("LogAppendTime"), "LogAppendTime", ""},
		{"message.timestamp.type", cfgValue("Whenever"), "", "must be one of"},
		{"no.such.config", cfgValue("1"), "", `unknown topic config "no.such.config"`},
		{"retention.ms", nil, "", "null value"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+deref(tt.value), func(t *testing.T) {
			t.Parallel()
			got, err := validateTopicConfig(tt.name, tt.value)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, errInvalidConfig) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %q, %v; want an invalid config error containing %q", got, err, tt.msg)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func TestEveryTopicConfigDefaultIsValid(t *testing.T) {
	t.Parallel()
	for i, d := range topicConfigDefs {
		if i > 0 && topicConfigDefs[i-1].name >= d.name {
			t.Errorf("topicConfigDefs not sorted at %s", d.name)
		}
		if got, err := validateTopicConfig(d.name, &d.def); err != nil || got != d.def {
			t.Errorf("default of %s: got %q, %v", d.name, got, err)
		}
	}
}

func TestValidateCreateConfigs(t *testing.T) {
	t.Parallel()
	got, err := validateCreateConfigs([]kmsg.CreateTopicsRequestTopicConfig{
		{Name: "retention.ms", Value: cfgValue("1000")},
		{Name: "cleanup.policy", Value: cfgValue("compact, delete")},
		{Name: "retention.ms", Value: cfgValue("2000")}, // last one wins
	})
	want := map[string]string{"retention.ms": "2000", "cleanup.policy": "compact,delete"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if _, err := validateCreateConfigs([]kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: nil}}); !errors.Is(err, errInvalidConfig) {
		t.Fatalf("null value: got %v, want invalid config", err)
	}
	if got, err := validateCreateConfigs(nil); got != nil || err != nil {
		t.Fatalf("no configs: got %v, %v", got, err)
	}
}

func TestApplyConfigOps(t *testing.T) {
	t.Parallel()
	const (
		set      = kmsg.IncrementalAlterConfigOpSet
		del      = kmsg.IncrementalAlterConfigOpDelete
		appendOp = kmsg.IncrementalAlterConfigOpAppend
		subtract = kmsg.IncrementalAlterConfigOpSubtract
	)
	op := func(o kmsg.IncrementalAlterConfigOp, name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Op, c.Name, c.Value = o, name, value
		return c
	}
	tests := []struct {
		name    string
		current map[string]string
		ops     []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want    map[string]string
		msg     string // non-empty: an error containing this is expected
	}{
		{
			name: "set on nothing",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", cfgValue("1000"))},
			want: map[string]string{"retention.ms": "1000"},
		},
		{
			name:    "set replaces, others kept",
			current: map[string]string{"retention.ms": "1000", "segment.ms": "60000"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", cfgValue("2000"))},
			want:    map[string]string{"retention.ms": "2000", "segment.ms": "60000"},
		},
		{
			name:    "delete returns to the default",
			current: map[string]string{"retention.ms": "1000"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(del, "retention.ms", nil)},
			want:    map[string]string{},
		},
		{
			name: "delete of an unset known config",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(del, "segment.ms", nil)},
			want: map[string]string{},
		},
		{
			name:    "delete of a stored unknown config cleans it up",
			current: map[string]string{"legacy.thing": "x"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(del, "legacy.thing", nil)},
			want:    map[string]string{},
		},
		{
			name: "delete of an unknown config",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(del, "legacy.thing", nil)},
			msg:  "unknown topic config",
		},
		{
			name: "append starts from the default",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "cleanup.policy", cfgValue("compact"))},
			want: map[string]string{"cleanup.policy": "delete,compact"},
		},
		{
			name:    "append of a present value changes nothing",
			current: map[string]string{"cleanup.policy": "compact"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "cleanup.policy", cfgValue("compact"))},
			want:    map[string]string{"cleanup.policy": "compact"},
		},
		{
			name:    "subtract",
			current: map[string]string{"cleanup.policy": "delete,compact"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(subtract, "cleanup.policy", cfgValue("delete"))},
			want:    map[string]string{"cleanup.policy": "compact"},
		},
		{
			name: "subtract of an absent value from the default",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(subtract, "cleanup.policy", cfgValue("compact"))},
			want: map[string]string{"cleanup.policy": "delete"},
		},
		{
			name:    "subtract of the last value",
			current: map[string]string{"cleanup.policy": "compact"},
			ops:     []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(subtract, "cleanup.policy", cfgValue("compact"))},
			msg:     "at least one",
		},
		{
			name: "append of a value not allowed",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "cleanup.policy", cfgValue("archive"))},
			msg:  `"archive" is not one of`,
		},
		{
			name: "append to a config that is not a list",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(appendOp, "retention.ms", cfgValue("5"))},
			msg:  "not a list config",
		},
		{
			name: "subtract from a config that is not a list",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(subtract, "compression.type", cfgValue("gzip"))},
			msg:  "not a list config",
		},
		{
			name: "set of an unknown config",
			ops:  []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.hours", cfgValue("5"))},
			msg:  "unknown topic config",
		},
		{
			name:    "one bad op fails the lot",
			current: map[string]string{"retention.ms": "1000"},
			ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
				op(set, "segment.ms", cfgValue("60000")),
				op(set, "retention.ms", cfgValue("soon")),
			},
			msg: "not a long",
		},
		{
			name: "ops apply in order",
			ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{
				op(set, "cleanup.policy", cfgValue("compact")),
				op(appendOp, "cleanup.policy", cfgValue("delete")),
				op(set, "compression.type", cfgValue("lz4")),
			},
			want: map[string]string{"cleanup.policy": "compact,delete", "compression.type": "lz4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := maps.Clone(tt.current)
			got, err := applyConfigOps(tt.current, tt.ops)
			if !maps.Equal(tt.current, before) {
				t.Fatalf("current changed: %v, was %v", tt.current, before)
			}
			if tt.msg != "" {
				if !errors.Is(err, errInvalidConfig) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("got %v, %v; want an invalid config error containing %q", got, err, tt.msg)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCheckConfigOps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
		ok   bool
	}{
		{"delete without value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "a", Op: 1}}, true},
		{"set without value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "a", Op: 0}}, false},
		{"append without value", []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "a", Op: 2}}, false},
		{"unknown op", []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "a", Op: 4, Value: cfgValue("x")}}, false},
		{"name twice", []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "a", Op: 1}, {Name: "a", Op: 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkConfigOps(tt.ops); (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
