package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Records acknowledged with acks=all by a broker on a SQLite file survive
// SIGKILL of the broker and are read back by the restarted one.
func TestSQLiteSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	storage := brokerStorage{URL: "sqlite://" + filepath.Join(t.TempDir(), "siesta.db")}
	b := startBrokerProcess(t, storage)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	acked := make(map[string]bool)
	for round := range 5 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("durable"),
			kgo.RequiredAcks(kgo.AllISRAcks()))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			v := fmt.Sprintf("r%d-%d", round, i)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			acked[v] = true
		}
		cl.Close()
		b.kill()
		b.start()
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics("durable"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := make(map[string]int)
	for len(seen) < len(acked) && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			seen[string(r.Value)]++
			if r.Offset != int64(len(seen)-1) && seen[string(r.Value)] == 1 {
				t.Fatalf("record %s at offset %d after %d distinct records", r.Value, r.Offset, len(seen)-1)
			}
		}
	}
	for v := range acked {
		if seen[v] != 1 {
			t.Errorf("acknowledged record %s read %d times", v, seen[v])
		}
	}
}
