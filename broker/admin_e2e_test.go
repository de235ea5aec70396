package broker

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests drive the admin APIs through kadm against a real Server, the
// way operators' tools do.

func TestAdminCreateTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = 2 })
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)

	resp, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders")
	if err != nil {
		t.Fatalf("create: %v (%s)", err, resp.ErrMessage)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 3 || resp.ID == (kadm.TopicID{}) {
		t.Errorf("create answered partitions %d, rf %d, id %v", resp.NumPartitions, resp.ReplicationFactor, resp.ID)
	}
	if c := resp.Configs["retention.ms"]; c.Value == nil || *c.Value != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("create answered retention.ms %+v", c)
	}
	if c := resp.Configs["segment.ms"]; c.Value == nil || *c.Value != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("create answered segment.ms %+v", c)
	}

	defaults, err := adm.CreateTopic(ctx, -1, -1, nil, "defaults")
	if err != nil || defaults.NumPartitions != 2 || defaults.ReplicationFactor != 1 {
		t.Errorf("create with defaults: %+v, %v", defaults, err)
	}

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("create again: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	bad, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("Whenever")}, "bad-config")
	if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(bad.ErrMessage, "must be one of") {
		t.Errorf("create with message.timestamp.type=Whenever: %v (%q), want INVALID_CONFIG", err, bad.ErrMessage)
	}
	if _, err := adm.CreateTopic(ctx, 0, 1, nil, "no-partitions"); !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("create with 0 partitions: %v, want INVALID_PARTITIONS", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 0, nil, "no-replicas"); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Errorf("create with rf 0: %v, want INVALID_REPLICATION_FACTOR", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("create with a bad name: %v, want INVALID_TOPIC_EXCEPTION", err)
	}

	dry, err := adm.ValidateCreateTopics(ctx, 4, 1, nil, "dry-run")
	if err != nil || dry["dry-run"].Err != nil || dry["dry-run"].NumPartitions != 4 {
		t.Errorf("validate-only create: %+v, %v", dry, err)
	}
	if dry, _ := adm.ValidateCreateTopics(ctx, 1, 1, nil, "orders"); !errors.Is(dry["orders"].Err, kerr.TopicAlreadyExists) {
		t.Errorf("validate-only create of an existing topic: %+v", dry)
	}

	// Two entries for one name: refused, once, and the others still made.
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range []string{"twice", "once", "twice"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
	}
	raw, err := req.RequestWith(ctx, b.client(t))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range raw.Topics {
		codes[rt.Topic] = rt.ErrorCode
	}
	if len(raw.Topics) != 2 || codes["twice"] != kerr.InvalidRequest.Code || codes["once"] != 0 {
		t.Errorf("duplicate names answered %v", codes)
	}

	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listed.Names(), ","); got != "defaults,once,orders" {
		t.Errorf("topics after creating: %s", got)
	}
}

func TestAdminTopicConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "events"); err != nil {
		t.Fatal(err)
	}

	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "events")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("events", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		out := make(map[string]kadm.Config)
		for _, c := range rc.Configs {
			out[c.Key] = c
		}
		return out
	}
	value := func(c kadm.Config) string {
		if c.Value == nil {
			return "<null>"
		}
		return *c.Value
	}

	got := describe()
	if len(got) != len(topicConfigDefs) {
		t.Errorf("described %d configs, want %d", len(got), len(topicConfigDefs))
	}
	if c := got["cleanup.policy"]; value(c) != "compact" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("cleanup.policy: %+v", c)
	}
	if c := got["retention.ms"]; value(c) != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms: %+v", c)
	}

	alter := func(validate bool, cfgs ...kadm.AlterConfig) kadm.AlterConfigsResponse {
		t.Helper()
		f := adm.AlterTopicConfigs
		if validate {
			f = adm.ValidateAlterTopicConfigs
		}
		return alterTopic(t, ctx, f, "events", cfgs...)
	}
	if r := alter(false,
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("60000")},
		kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
	); r.Err != nil {
		t.Fatalf("alter: %v (%s)", r.Err, r.ErrMessage)
	}
	got = describe()
	if value(got["retention.ms"]) != "60000" || value(got["cleanup.policy"]) != "compact,delete" {
		t.Errorf("after set and append: retention.ms %s, cleanup.policy %s", value(got["retention.ms"]), value(got["cleanup.policy"]))
	}

	if r := alter(false,
		kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"},
	); r.Err != nil {
		t.Fatalf("alter: %v (%s)", r.Err, r.ErrMessage)
	}
	got = describe()
	if c := got["retention.ms"]; value(c) != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms after delete: %+v", c)
	}
	if value(got["cleanup.policy"]) != "delete" {
		t.Errorf("cleanup.policy after subtract: %s", value(got["cleanup.policy"]))
	}

	// A bad op fails the whole resource; validate-only changes nothing.
	if r := alter(false,
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("1000")},
		kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("lots")},
	); !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "retention.bytes") {
		t.Errorf("alter with a bad value: %v (%s), want INVALID_CONFIG", r.Err, r.ErrMessage)
	}
	if r := alter(true, kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("1000")}); r.Err != nil {
		t.Errorf("validate-only alter: %v (%s)", r.Err, r.ErrMessage)
	}
	if r := alter(true, kadm.AlterConfig{Op: kadm.AppendConfig, Name: "segment.ms", Value: kadm.StringPtr("1000")}); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Errorf("validate-only append to a long: %v, want INVALID_CONFIG", r.Err)
	}
	if c := describe()["segment.ms"]; value(c) != "604800000" {
		t.Errorf("segment.ms changed by failed or validate-only alters: %s", value(c))
	}

	// Filtering by name, and an unknown topic.
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"events", "missing"} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, name, []string{"cleanup.policy"}
		req.Resources = append(req.Resources, rr)
	}
	req.IncludeSynonyms = true
	raw, err := req.RequestWith(ctx, b.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Resources) != 2 {
		t.Fatalf("described %d resources", len(raw.Resources))
	}
	if r := raw.Resources[0]; r.ErrorCode != 0 || len(r.Configs) != 1 || len(r.Configs[0].ConfigSynonyms) != 2 {
		t.Errorf("filtered describe: %+v", r)
	}
	if r := raw.Resources[1]; r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("describe of a missing topic: code %d", r.ErrorCode)
	}

	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}}, "missing")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.On("missing", nil); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter of a missing topic: %v", r.Err)
	}
}

// alterTopic runs one of kadm's alter calls on topic and returns its
// result for that topic.
func alterTopic(t *testing.T, ctx context.Context, f func(context.Context, []kadm.AlterConfig, ...string) (kadm.AlterConfigsResponses, error), topic string, cfgs ...kadm.AlterConfig) kadm.AlterConfigsResponse {
	t.Helper()
	rs, err := f(ctx, cfgs, topic)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// AlterConfigs, the non-incremental form (kadm's AlterTopicConfigsState),
// leaves a topic with exactly the configs it lists.
func TestAdminAlterConfigsReplaces(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "retention.ms": kadm.StringPtr("5000")}, "legacy"); err != nil {
		t.Fatal(err)
	}
	stored := func() map[string]string {
		t.Helper()
		topic, err := b.engine.Topic(ctx, "legacy")
		if err != nil {
			t.Fatal(err)
		}
		return topic.Configs
	}
	alter := func(validate bool, cfgs ...kadm.AlterConfig) kadm.AlterConfigsResponse {
		t.Helper()
		f := adm.AlterTopicConfigsState
		if validate {
			f = adm.ValidateAlterTopicConfigsState
		}
		return alterTopic(t, ctx, f, "legacy", cfgs...)
	}

	tests := []struct {
		name     string
		validate bool
		configs  []kadm.AlterConfig
		wantErr  error
		want     map[string]string
	}{
		{name: "validate only", validate: true, configs: []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("1000")}},
			want: map[string]string{"cleanup.policy": "compact", "retention.ms": "5000"}},
		{name: "a bad value changes nothing", configs: []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("1000")}, {Name: "retention.bytes", Value: kadm.StringPtr("lots")}},
			wantErr: kerr.InvalidConfig, want: map[string]string{"cleanup.policy": "compact", "retention.ms": "5000"}},
		{name: "a null value changes nothing", configs: []kadm.AlterConfig{{Name: "segment.ms"}},
			wantErr: kerr.InvalidRequest, want: map[string]string{"cleanup.policy": "compact", "retention.ms": "5000"}},
		{name: "the listed configs replace the others", configs: []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("60000")}},
			want: map[string]string{"retention.ms": "60000"}},
		{name: "none listed: back to every default", want: map[string]string{}},
	}
	for _, tt := range tests {
		r := alter(tt.validate, tt.configs...)
		if !errors.Is(r.Err, tt.wantErr) || (tt.wantErr == nil) != (r.Err == nil) {
			t.Errorf("%s: %v (%s), want %v", tt.name, r.Err, r.ErrMessage, tt.wantErr)
		}
		if got := stored(); !maps.Equal(got, tt.want) {
			t.Errorf("%s: configs %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAdminBrokerConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.NodeID = 7; c.DefaultPartitions = 6 })
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)

	rcs, err := adm.DescribeBrokerConfigs(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("7", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe broker: %v %v", err, rc.Err)
	}
	got := make(map[string]string)
	for _, c := range rc.Configs {
		got[c.Key] = *c.Value
	}
	if got["broker.id"] != "7" || got["num.partitions"] != "6" || got["auto.create.topics.enable"] != "true" {
		t.Errorf("broker configs: %v", got)
	}

	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kadm.StringPtr("3")}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.On(strconv.Itoa(7), nil); !errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, "flags and environment") {
		t.Errorf("alter broker: %v (%s), want INVALID_REQUEST", r.Err, r.ErrMessage)
	}
}

func TestAdminPartitionsAndRecords(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "logs"); err != nil {
		t.Fatal(err)
	}

	if rs, err := adm.ValidateCreatePartitions(ctx, 3, "logs"); err != nil || rs["logs"].Err != nil {
		t.Fatalf("validate-only create partitions: %+v, %v", rs, err)
	}
	if rs, err := adm.CreatePartitions(ctx, 2, "logs"); err != nil || rs["logs"].Err != nil {
		t.Fatalf("create partitions: %+v, %v", rs, err)
	}
	rs, err := adm.UpdatePartitions(ctx, 3, "logs")
	if err != nil {
		t.Fatal(err)
	}
	if r := rs["logs"]; !errors.Is(r.Err, kerr.InvalidPartitions) || !strings.Contains(r.ErrMessage, "has 4 partitions") {
		t.Errorf("shrinking: %v (%s), want INVALID_PARTITIONS", r.Err, r.ErrMessage)
	}
	if rs, _ := adm.UpdatePartitions(ctx, 9, "missing"); !errors.Is(rs["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("create partitions of a missing topic: %+v", rs)
	}
	td, err := adm.ListTopics(ctx, "logs")
	if err != nil || len(td["logs"].Partitions) != 4 {
		t.Fatalf("partitions after adding: %v, %v", td["logs"].Partitions.Numbers(), err)
	}

	cl := b.client(t, kgo.DefaultProduceTopic("logs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 3, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "logs", Partition: 3, At: 2})
	os.Add(kadm.Offset{Topic: "logs", Partition: 0, At: 1})
	drs, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := drs.On("logs", 3, nil); r.Err != nil || r.LowWatermark != 2 {
		t.Errorf("delete records to 2: %+v", r)
	}
	if r, _ := drs.On("logs", 0, nil); !errors.Is(r.Err, kerr.OffsetOutOfRange) || r.LowWatermark != -1 {
		t.Errorf("delete records past the end: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "logs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("logs", 3); o.Offset != 2 {
		t.Errorf("start offset after delete records: %+v", o)
	}
	if recs := consumeN(t, b, "logs", 3); string(recs[0].Value) != "2" {
		t.Errorf("first record after delete records: %q", recs[0].Value)
	}

	var epochs kadm.OffsetForLeaderEpochRequest
	epochs.Add("logs", 3, 0)
	epochs.Add("logs", 1, 5)
	le, err := adm.OffsetForLeaderEpoch(ctx, epochs)
	if err != nil {
		t.Fatal(err)
	}
	if e := le["logs"][3]; e.Err != nil || e.LeaderEpoch != 0 || e.EndOffset != 5 {
		t.Errorf("epoch 0 of partition 3: %+v", e)
	}
	if e := le["logs"][1]; e.Err != nil || e.LeaderEpoch != 0 || e.EndOffset != 0 {
		t.Errorf("epoch 5 of empty partition 1: %+v", e)
	}

	// kadm shards by leader, so it cannot ask for a partition that does
	// not exist; nor for a current epoch ahead of the broker's.
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "logs"
	for _, p := range []struct{ partition, current int32 }{{9, -1}, {3, 1}, {3, 0}} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.partition, p.current, 0
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// Straight to the broker: the client would refuse partition 9 itself.
	kresp, err := cl.Broker(0).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	raw := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	want := []struct {
		code int16
		end  int64
	}{{kerr.UnknownTopicOrPartition.Code, -1}, {kerr.UnknownLeaderEpoch.Code, -1}, {0, 5}}
	for i, sp := range raw.Topics[0].Partitions {
		if sp.ErrorCode != want[i].code || sp.EndOffset != want[i].end {
			t.Errorf("raw OffsetForLeaderEpoch %d: code %d, end %d; want %+v", i, sp.ErrorCode, sp.EndOffset, want[i])
		}
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)
	created, err := adm.CreateTopic(ctx, 1, 1, nil, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := b.client(t).ProduceSync(ctx, &kgo.Record{Topic: "doomed", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r, err := adm.DeleteTopic(ctx, "doomed")
	if err != nil {
		t.Fatalf("delete: %v (%s)", err, r.ErrMessage)
	}
	if r, _ := adm.DeleteTopic(ctx, "doomed"); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete again: %v", r.Err)
	}
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listed.Names(), ","); got != "kept" {
		t.Errorf("topics after deleting: %s", got)
	}

	// By id (v6): the deleted topic's id is unknown now; kept's is not.
	kept, err := b.engine.Topic(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	for _, id := range [][16]byte{created.ID, topicID(kept)} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	raw, err := req.RequestWith(ctx, b.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw.Topics) != 2 || raw.Topics[0].ErrorCode != kerr.UnknownTopicID.Code ||
		raw.Topics[1].ErrorCode != 0 || raw.Topics[1].Topic == nil || *raw.Topics[1].Topic != "kept" {
		t.Errorf("delete by id: %+v", raw.Topics)
	}
	if _, err := b.engine.Topic(ctx, "kept"); err == nil {
		t.Error("kept still exists after deleting it by id")
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.NodeID = 3 })
	ctx := testContext(t, 20*time.Second)
	cl := b.client(t)

	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	host, port := b.srv.Advertised()
	if resp.ErrorCode != 0 || !strings.HasPrefix(resp.ClusterID, "siesta-") || resp.ControllerID != 3 ||
		len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 3 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != port {
		t.Errorf("describe cluster: %+v", resp)
	}
	if resp.ClusterAuthorizedOperations != -2147483648 {
		t.Errorf("authorized operations not asked for: %d", resp.ClusterAuthorizedOperations)
	}
	id, err := b.engine.ClusterID(ctx)
	if err != nil || id != resp.ClusterID {
		t.Errorf("cluster id %q, engine says %q (%v)", resp.ClusterID, id, err)
	}

	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Errorf("controllers endpoint: code %d, want UNSUPPORTED_ENDPOINT_TYPE", resp.ErrorCode)
	}
}
