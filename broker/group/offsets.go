package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

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
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leaderEpoch"`
	Metadata    string `json:"metadata,omitempty"`
	// CommitTime is when a broker received the commit.
	CommitTime time.Time `json:"commitTime"`
	// TopicID is the id of the topic the commit was made to (empty for
	// commits stored before ids were kept): a commit to a topic since
	// deleted is not the new topic's (see Options.Topics).
	TopicID string `json:"topicId,omitempty"`
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

// commitOffsets merges commits into the group's offsets document and
// returns the error code of each partition it did not write.
//
// A partition whose stored commit was received after this one (by at most
// ApplyTimeout, the longest a request may take to write) keeps it, and is
// answered REQUEST_TIMED_OUT: the client gave up on this request and
// committed again, as franz-go does when a slow store holds a commit, and
// writing this one last would move the partition's offset back. Receipt
// times of different brokers are compared, so their clocks must agree to
// well under the time between a client's two commits of one partition (NTP
// keeps them within milliseconds); a backward step of a broker's clock can
// make it report a commit overtaken for that long, which the client
// retries.
//
// topics (nil without Options.Topics) says what each committed topic is
// now; the stored commits of another topic of the same name, deleted
// since, are dropped as these are written (dropOtherIncarnations).
func (c *Coordinator) commitOffsets(ctx context.Context, group string, commits map[string]map[int32]committedOffset, topics map[string]topicInfo) (refused map[string]map[int32]int16, err error) {
	err = c.updateOffsets(ctx, group, func(doc *offsetsDoc) (bool, error) {
		refused = make(map[string]map[int32]int16)
		write := false
		for topic, parts := range commits {
			if doc.Topics[topic] == nil {
				doc.Topics[topic] = make(map[int32]committedOffset, len(parts))
			}
			stored := doc.Topics[topic]
			if t := topics[topic]; t.known {
				dropOtherIncarnations(stored, t)
			}
			for p, o := range parts {
				if prev, ok := stored[p]; ok && c.overtakes(prev.CommitTime, o.CommitTime) {
					if refused[topic] == nil {
						refused[topic] = make(map[int32]int16)
					}
					refused[topic][p] = kerr.RequestTimedOut.Code
					continue
				}
				stored[p] = o
				write = true
			}
			if len(stored) == 0 {
				delete(doc.Topics, topic)
			}
		}
		return write, nil
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

// updateOffsets is the one way the offsets document changes: read it, let
// change modify it and say whether to write it, and write it back with a
// conditional write, retried from a fresh read when another write came
// first. Nothing is written once ctx is done: a request past its
// ApplyTimeout writes nothing, even if the store answers at last, because
// its client has moved on and may have committed later offsets since.
func (c *Coordinator) updateOffsets(ctx context.Context, group string, change func(doc *offsetsDoc) (write bool, err error)) error {
	key := offsetsKey(group)
	for attempt := 1; ; attempt++ {
		doc, etag, exists, err := c.readOffsets(ctx, group)
		if err != nil {
			return err
		}
		if write, err := change(doc); err != nil || !write {
			return err
		}
		doc.Revision++
		data, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encode offsets of group %q: %w", group, err)
		}
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

// dropOtherIncarnations removes from a topic's stored commits those made
// to another topic of the same name (deleted since), and files under t's
// id those that belong to t by time (see belongs). t may come from a
// broker's cache, up to MetadataTTL behind a deletion and re-creation:
// then it is the older topic, the newer one's commits belong to it by time
// too and are filed under its id for a while, which belongs still counts
// as the newer topic's; nothing of the newer topic is dropped.
func dropOtherIncarnations(parts map[int32]committedOffset, t topicInfo) {
	for p, o := range parts {
		switch {
		case o.TopicID == "" || o.TopicID == t.id:
		case belongs(o, t):
			o.TopicID = t.id
			parts[p] = o
		default:
			delete(parts, p)
		}
	}
}

// overtakes reports whether a request received at later was received
// after one received at earlier, by no more than a request may take to
// write (anything further apart is a clock that moved, not a race).
func (c *Coordinator) overtakes(later, earlier time.Time) bool {
	d := later.Sub(earlier)
	return d > 0 && d <= c.opts.ApplyTimeout
}
