package broker

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// End-to-end tests of committed offsets as an admin sees them (kadm):
// which partitions accept commits, and what happens to commits when their
// topic goes away.

func commit(t *testing.T, adm *kadm.Client, group string, offsets map[string]map[int32]int64) kadm.OffsetResponses {
	t.Helper()
	var os kadm.Offsets
	for topic, parts := range offsets {
		for p, o := range parts {
			os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
		}
	}
	resp, err := adm.CommitOffsets(testContext(t, 10*time.Second), group, os)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return resp
}

func TestCommitToUnknownPartitionIsRefused(t *testing.T) {
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	adm := b.admin(t)
	createTopic(t, b, "two", 2, nil)
	resp := commit(t, adm, "g", map[string]map[int32]int64{"two": {0: 5, 1: 6, 2: 7}, "none": {0: 1}})
	want := map[string]map[int32]error{
		"two":  {0: nil, 1: nil, 2: kerr.UnknownTopicOrPartition},
		"none": {0: kerr.UnknownTopicOrPartition},
	}
	for topic, parts := range want {
		for p, wantErr := range parts {
			got, ok := resp.Lookup(topic, p)
			if !ok || !errors.Is(got.Err, wantErr) || (wantErr == nil && got.Err != nil) {
				t.Errorf("commit %s/%d: %v, want %v", topic, p, got.Err, wantErr)
			}
		}
	}
	fetched, err := adm.FetchOffsets(testContext(t, 10*time.Second), "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("two", 1); !ok || o.At != 6 {
		t.Errorf("two/1 = %+v, want 6", o)
	}
	if _, ok := fetched.Lookup("two", 2); ok {
		t.Error("the refused commit to two/2 was stored")
	}
}

// TestCommitsDoNotOutliveTheirTopic deletes a topic and creates it again
// under the same name: as in Kafka, the group's commits to the old topic
// are gone, so a consumer of the new one starts from its reset policy,
// not from an offset the new topic may not have reached.
func TestCommitsDoNotOutliveTheirTopic(t *testing.T) {
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	adm := b.admin(t)
	ctx := testContext(t, 20*time.Second)
	createTopic(t, b, "reborn", 2, nil)
	createTopic(t, b, "other", 1, nil)
	commit(t, adm, "g", map[string]map[int32]int64{"reborn": {0: 1, 1: 41}, "other": {0: 7}})

	if _, err := adm.DeleteTopics(ctx, "reborn"); err != nil {
		t.Fatal(err)
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("reborn", 0); ok {
		t.Error("a commit to a deleted topic is still reported")
	}
	createTopic(t, b, "reborn", 1, nil)
	fetched, err = adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("reborn", 0); ok {
		t.Errorf("the new topic inherited the old one's commit: %+v", o)
	}
	if o, ok := fetched.Lookup("other", 0); !ok || o.At != 7 {
		t.Errorf("other/0 = %+v, want 7", o)
	}

	// A consumer of the new topic in the group starts where its reset
	// policy says (the start), not at the old topic's offset 1.
	produceValues(t, b, "reborn", "v", 3)
	cl := b.client(t, kgo.ConsumeTopics("reborn"), kgo.ConsumerGroup("g"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var first *kgo.Record
	for first == nil {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			first = recs[0]
		}
	}
	cl.Close() // leaves the group, so that the admin may commit
	if string(first.Value) != "v-0" {
		t.Fatalf("first record consumed %q at offset %d, want v-0", first.Value, first.Offset)
	}

	// The first commit to the new topic drops the old topic's commits
	// from the stored document.
	if err := commit(t, adm, "g", map[string]map[int32]int64{"reborn": {0: 2}}).Error(); err != nil {
		t.Fatalf("commit to the new topic: %v", err)
	}
	obj, err := b.bucket.Get(ctx, "groups/g/offsets")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Topics map[string]map[string]json.RawMessage `json:"topics"`
	}
	if err := json.Unmarshal(obj.Data, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Topics["reborn"]["1"]; ok || len(doc.Topics["reborn"]) != 1 {
		t.Errorf("stored commits of reborn after a commit to the new topic: %s", obj.Data)
	}
}

func deleteOffsets(t *testing.T, adm *kadm.Client, group string, partitions map[string][]int32) (kadm.DeleteOffsetsResponses, error) {
	t.Helper()
	set := make(kadm.TopicsSet)
	for topic, parts := range partitions {
		set.Add(topic, parts...)
	}
	return adm.DeleteOffsets(testContext(t, 10*time.Second), group, set)
}

func TestOffsetDelete(t *testing.T) {
	b := startBroker(t, nil, func(c *Config) { c.AutoCreateTopics = false })
	adm := b.admin(t)
	ctx := testContext(t, 30*time.Second)
	createTopic(t, b, "read", 2, nil)
	createTopic(t, b, "dropped", 2, nil)

	t.Run("empty group", func(t *testing.T) {
		commit(t, adm, "idle", map[string]map[int32]int64{"read": {0: 3, 1: 4}, "dropped": {0: 5}})
		resp, err := deleteOffsets(t, adm, "idle", map[string][]int32{"read": {0}, "dropped": {0, 1, 7}, "none": {0}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[int32]error{
			"read":    {0: nil},
			"dropped": {0: nil, 1: nil, 7: kerr.UnknownTopicOrPartition}, // dropped/1 had no commit: no error
			"none":    {0: kerr.UnknownTopicOrPartition},
		}
		for topic, parts := range want {
			for p, wantErr := range parts {
				if got := resp[topic][p]; !errors.Is(got, wantErr) || (wantErr == nil && got != nil) {
					t.Errorf("delete %s/%d: %v, want %v", topic, p, got, wantErr)
				}
			}
		}
		fetched, err := adm.FetchOffsets(ctx, "idle")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fetched.Lookup("read", 0); ok {
			t.Error("read/0 still has its commit")
		}
		if _, ok := fetched.Lookup("dropped", 0); ok {
			t.Error("dropped/0 still has its commit")
		}
		if o, ok := fetched.Lookup("read", 1); !ok || o.At != 4 {
			t.Errorf("read/1 = %+v, want its commit kept", o)
		}
	})

	t.Run("unknown group", func(t *testing.T) {
		if _, err := deleteOffsets(t, adm, "never", map[string][]int32{"read": {0}}); !errors.Is(err, kerr.GroupIDNotFound) {
			t.Fatalf("delete in a group that never was: %v, want GROUP_ID_NOT_FOUND", err)
		}
	})

	t.Run("consumer group with members", func(t *testing.T) {
		produceValues(t, b, "read", "v", 4)
		commit(t, adm, "active", map[string]map[int32]int64{"dropped": {0: 1, 1: 1}})
		cl := b.client(t, kgo.ConsumeTopics("read"), kgo.ConsumerGroup("active"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for n := 0; n < 4; {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of 4: %v", n, err)
			}
			n += len(fs.Records())
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatal(err)
		}
		resp, err := deleteOffsets(t, adm, "active", map[string][]int32{"read": {0, 1}, "dropped": {0}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []int32{0, 1} {
			if err := resp["read"][p]; !errors.Is(err, kerr.GroupSubscribedToTopic) {
				t.Errorf("delete read/%d while the group reads it: %v, want GROUP_SUBSCRIBED_TO_TOPIC", p, err)
			}
		}
		if err := resp["dropped"][0]; err != nil {
			t.Errorf("delete dropped/0, which no member reads: %v", err)
		}
		fetched, err := adm.FetchOffsets(ctx, "active")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fetched.Lookup("dropped", 0); ok {
			t.Error("dropped/0 still has its commit")
		}
		if _, ok := fetched.Lookup("dropped", 1); !ok {
			t.Error("dropped/1 lost its commit")
		}
		if o, ok := fetched.Lookup("read", 0); !ok || o.At < 0 {
			t.Errorf("read/0 = %+v, want the group's commit kept", o)
		}
	})
}

// staleSetup is two brokers over one bucket, and the topic that broker
// B still caches, as it was before broker A deleted it and created it
// again (B keeps it for MetadataTTL).
type staleSetup struct {
	bucket     objectstore.Bucket
	admA, admB *kadm.Client
	ctx        context.Context
}

// recreateBehindAStaleBroker creates topic (two partitions) through A,
// commits offset to its partition 0 in group "g" through B (so B caches
// the topic), then deletes and creates the topic again through A.
func recreateBehindAStaleBroker(t *testing.T, topic string, offset int64) staleSetup {
	t.Helper()
	bucket := memory.New()
	a := startBroker(t, bucket, func(c *Config) { c.AutoCreateTopics = false })
	b := startBroker(t, bucket, func(c *Config) { c.AutoCreateTopics = false })
	r := staleSetup{bucket: bucket, admA: a.admin(t), admB: b.admin(t), ctx: testContext(t, 20*time.Second)}
	createTopic(t, a, topic, 2, nil)
	if err := commit(t, r.admB, "g", map[string]map[int32]int64{topic: {0: offset}}).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.admA.DeleteTopics(r.ctx, topic); err != nil {
		t.Fatal(err)
	}
	createTopic(t, a, topic, 2, nil)
	return r
}

// TestCommitThroughABrokerWithStaleMetadata: a topic is deleted and
// created again through broker A while broker B still caches the old
// topic (for MetadataTTL). A commit through B, and a fetch through B, must
// neither lose A's commits to the new topic nor have B's commit filed
// under the old one.
func TestCommitThroughABrokerWithStaleMetadata(t *testing.T) {
	r := recreateBehindAStaleBroker(t, "moved", 1)
	admA, admB, ctx := r.admA, r.admB, r.ctx
	if err := commit(t, admA, "g", map[string]map[int32]int64{"moved": {0: 10, 1: 11}}).Error(); err != nil {
		t.Fatal(err)
	}
	if err := commit(t, admB, "g", map[string]map[int32]int64{"moved": {0: 12}}).Error(); err != nil {
		t.Fatalf("commit through the broker with stale metadata: %v", err)
	}
	for name, adm := range map[string]*kadm.Client{"A": admA, "B (stale)": admB} {
		fetched, err := adm.FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range map[int32]int64{0: 12, 1: 11} {
			if o, ok := fetched.Lookup("moved", p); !ok || o.At != want {
				t.Errorf("fetch through %s: moved/%d = %+v, want %d", name, p, o, want)
			}
		}
	}
}

// TestFirstCommitThroughAStaleBroker: after a topic is deleted and
// created again, the first commit to it goes through a broker still
// caching the old topic, with nothing stored to tell it the id changed.
// The commit is filed under the old id, but it was received after the
// new topic was created, so it is the new topic's, as in Kafka, where
// commits name topics.
func TestFirstCommitThroughAStaleBroker(t *testing.T) {
	r := recreateBehindAStaleBroker(t, "again", 40)
	admA, admB, ctx, bucket := r.admA, r.admB, r.ctx, r.bucket
	time.Sleep(2 * time.Millisecond) // receipt times in milliseconds: after the creation
	if err := commit(t, admB, "g", map[string]map[int32]int64{"again": {1: 7}}).Error(); err != nil {
		t.Fatalf("commit through the broker with stale metadata: %v", err)
	}
	check := func(want map[int32]int64) {
		t.Helper()
		fetched, err := admA.FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(2) {
			o, ok := fetched.Lookup("again", p)
			if w, wanted := want[p]; ok != wanted || wanted && o.At != w {
				t.Errorf("again/%d = %+v (present %v), want %v", p, o, ok, want)
			}
		}
	}
	check(map[int32]int64{1: 7}) // not the old topic's 40
	// A commit through the fresh broker keeps it.
	if err := commit(t, admA, "g", map[string]map[int32]int64{"again": {0: 3}}).Error(); err != nil {
		t.Fatal(err)
	}
	check(map[int32]int64{0: 3, 1: 7})
	// ... and files it under the new id: no commit is left that looks
	// like another topic's (each would cost a fresh read every time).
	obj, err := bucket.Get(ctx, "groups/g/offsets")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Topics map[string]map[string]struct {
			TopicID string `json:"topicId"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(obj.Data, &doc); err != nil {
		t.Fatal(err)
	}
	if a, b := doc.Topics["again"]["0"].TopicID, doc.Topics["again"]["1"].TopicID; a == "" || a != b {
		t.Errorf("stored topic ids %q and %q, want the new topic's on both", a, b)
	}
}
