package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// maxMetadataBytes is Kafka's offset.metadata.max.bytes default.
const maxMetadataBytes = 4096

// offsetsDoc is the committed-offsets document stored at offsetsKey.
type offsetsDoc struct {
	Topics map[string]map[int32]committedOffset `json:"topics"`
	// Revision grows with every write. Some stores' etags are content
	// hashes, so a document must never return to an earlier content, or a
	// stale compare-and-swap could succeed.
	Revision int64 `json:"revision"`
}

// committedOffset is one partition's committed position.
type committedOffset struct {
	Offset      int64     `json:"offset"`
	LeaderEpoch int32     `json:"leaderEpoch"`
	Metadata    string    `json:"metadata,omitempty"`
	CommitTime  time.Time `json:"commitTime"`
}

// readOffsets returns the group's committed offsets; exists is false if the
// group has never committed.
func (c *Coordinator) readOffsets(ctx context.Context, group string) (doc *offsetsDoc, etag string, exists bool, err error) {
	key := offsetsKey(group)
	obj, err := c.bucket.Get(ctx, key)
	doc = &offsetsDoc{Topics: make(map[string]map[int32]committedOffset)}
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		return doc, "", false, nil
	case err != nil:
		return nil, "", false, fmt.Errorf("read offsets of group %q: %w", group, err)
	}
	if err := json.Unmarshal(obj.Data, doc); err != nil {
		return nil, "", false, fmt.Errorf("decode offsets of group %q: %w", group, err)
	}
	if doc.Topics == nil {
		doc.Topics = make(map[string]map[int32]committedOffset)
	}
	return doc, obj.ETag, true, nil
}

// commitOffsets merges commits into the group's offsets document with a
// conditional write, retried on conflicts.
func (c *Coordinator) commitOffsets(ctx context.Context, group string, commits map[string]map[int32]committedOffset) error {
	key := offsetsKey(group)
	for attempt := 1; ; attempt++ {
		doc, etag, exists, err := c.readOffsets(ctx, group)
		if err != nil {
			return err
		}
		for topic, parts := range commits {
			if doc.Topics[topic] == nil {
				doc.Topics[topic] = make(map[int32]committedOffset, len(parts))
			}
			for p, o := range parts {
				doc.Topics[topic][p] = o
			}
		}
		doc.Revision++
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode offsets of group %q: %w", group, err)
		}
		// A commit past its ApplyTimeout writes nothing, even if the
		// store answered it at last: its client has moved on, and may
		// have committed later offsets since.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write offsets of group %q: %w", group, err)
		}
		if exists {
			_, err = c.bucket.PutIfMatch(ctx, key, data, etag)
		} else {
			_, err = c.bucket.PutIfAbsent(ctx, key, data)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, objectstore.ErrPreconditionFailed) || attempt >= maxCASAttempts {
			return fmt.Errorf("write offsets of group %q: %w", group, err)
		}
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(time.Millisecond)*int64(attempt)))); err != nil {
			return err
		}
	}
}
