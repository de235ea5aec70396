package group

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore/memory"
)

// Commits and fetches of a topic whose stored commits agree with the
// cached metadata never read the topic afresh: the fresh read is only for
// a disagreement (a topic deleted and created again).
func TestSteadyCommitsReadNoTopicAfresh(t *testing.T) {
	var cached, fresh atomic.Int64
	opts := testOptions()
	opts.Topics = func(_ context.Context, name string, isFresh bool) (Topic, error) {
		if isFresh {
			fresh.Add(1)
		} else {
			cached.Add(1)
		}
		return Topic{ID: "id-" + name, Partitions: 4, CreatedMs: 1}, nil
	}
	c := New(memory.New(), slog.New(slog.DiscardHandler), opts)
	t.Cleanup(c.Close)
	ctx := testContext(t)
	for i := range 5 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = 8, "g", -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "x", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(i % 4), Offset: int64(i)}}}}
		wantCode(t, "commit", c.OffsetCommit(ctx, req).Topics[0].Partitions[0].ErrorCode, nil)
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Version, fetch.Group = 7, "g"
		wantCode(t, "fetch", c.OffsetFetch(ctx, fetch).ErrorCode, nil)
	}
	if fresh.Load() != 0 || cached.Load() == 0 {
		t.Fatalf("%d fresh and %d cached topic lookups, want only cached ones", fresh.Load(), cached.Load())
	}
}
