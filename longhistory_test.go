package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A broker woken on a partition of more objects than it indexes (it loads
// only the newest 1,000 to 2,000; see docs/design.md) serves the whole log
// from offset 0 to a real client, finds offsets by timestamp in its oldest
// part, and appends at the end.
func TestFreshBrokerReadsALongHistory(t *testing.T) {
	t.Parallel()
	storage := brokerStorage{URL: "sqlite://" + filepath.Join(t.TempDir(), "siesta.db")}
	first := startBrokerProcess(t, storage)
	dumpLogsOnFailure(t, "first broker", first)
	ctx := testTimeout(t)
	const (
		topic   = "history"
		objects = 2600
	)
	createTopic(ctx, t, first.addr, topic, 1)
	// One record per produce request: one object each.
	producer := newProducer(t, first.addr, topic)
	start := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range objects {
		r := &kgo.Record{Value: fmt.Appendf(nil, "value-%d", i), Timestamp: start.Add(time.Duration(i) * time.Second)}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}
	first.stop()

	fresh := startBrokerProcess(t, storage)
	dumpLogsOnFailure(t, "fresh broker", fresh)
	cl := newClient(t, fresh.addr)
	records := readPartition(ctx, t, cl, topic, 0, objects)
	for i, r := range records {
		if want := fmt.Sprintf("value-%d", i); string(r.Value) != want {
			t.Fatalf("offset %d holds %q, want %q", r.Offset, r.Value, want)
		}
	}

	adm := kadm.NewClient(cl)
	for _, i := range []int{0, 17, 1000, objects - 1} {
		listed, err := adm.ListOffsetsAfterMilli(ctx, start.Add(time.Duration(i)*time.Second).UnixMilli(), topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			t.Fatalf("offset for the time of record %d: %v", i, err)
		}
		if got, _ := listed.Lookup(topic, 0); got.Offset != int64(i) {
			t.Errorf("offset for the time of record %d: %d", i, got.Offset)
		}
	}

	r := &kgo.Record{Value: []byte("after")}
	if err := newProducer(t, fresh.addr, topic).ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != objects {
		t.Errorf("appended at offset %d, want %d", r.Offset, objects)
	}
}
