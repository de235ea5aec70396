package group

import (
	"context"
	"errors"

	"github.com/siestamq/siesta/internal/bounded"
	"github.com/siestamq/siesta/objectstore"
)

// topicInfo is what Options.Topics says of one topic.
type topicInfo struct {
	id         string
	partitions int32
	createdMs  int64
	known      bool
}

// has reports whether partition p exists in the topic.
func (t topicInfo) has(p int32) bool { return t.known && p >= 0 && p < t.partitions }

// parallelLookups bounds the topic lookups of one request in flight at
// once (each may be a GET).
const parallelLookups = 16

// lookupTopics asks Options.Topics about each named topic once, from its
// cache, parallelLookups at a time. It returns nil when the Coordinator
// has no Options.Topics: then every partition counts as existing and
// commits carry no topic id.
func (c *Coordinator) lookupTopics(ctx context.Context, names []string) (map[string]topicInfo, error) {
	if c.opts.Topics == nil {
		return nil, nil
	}
	seen := make(map[string]bool, len(names))
	var unique []string
	for _, name := range names {
		if !seen[name] {
			seen[name] = true
			unique = append(unique, name)
		}
	}
	found := make([]topicInfo, len(unique))
	errs := make([]error, len(unique))
	bounded.Run(len(unique), parallelLookups, func(i int) {
		found[i], errs[i] = c.lookupTopic(ctx, unique[i], false)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	infos := make(map[string]topicInfo, len(unique))
	for i, name := range unique {
		infos[name] = found[i]
	}
	return infos, nil
}

// lookupTopic asks Options.Topics about one topic (which must be set); a
// name no topic can have is unknown.
func (c *Coordinator) lookupTopic(ctx context.Context, name string, fresh bool) (topicInfo, error) {
	t, err := c.opts.Topics(ctx, name, fresh)
	switch {
	case errors.Is(err, objectstore.ErrUnknownTopic), errors.Is(err, objectstore.ErrInvalidTopicName):
		return topicInfo{}, nil
	case err != nil:
		return topicInfo{}, err
	}
	return topicInfo{id: t.ID, partitions: t.Partitions, createdMs: t.CreatedMs, known: true}, nil
}

// confirmTopics re-reads, fresh from storage, each topic of infos that has
// a stored commit with another topic id than the one infos has: one of the
// two ids comes from metadata cached before the topic was deleted and
// created again (on this broker or another), and only the stored topic
// says which. Commits are judged to belong to another topic only on fresh
// metadata, never on a cache that may be behind.
func (c *Coordinator) confirmTopics(ctx context.Context, infos map[string]topicInfo, doc *offsetsDoc) error {
	for topic, info := range infos {
		if !info.known || !hasOtherID(doc.Topics[topic], info.id) {
			continue
		}
		fresh, err := c.lookupTopic(ctx, topic, true)
		if err != nil {
			return err
		}
		infos[topic] = fresh
	}
	return nil
}

// hasOtherID reports whether any of a topic's stored commits was made to
// a topic with another id than id.
func hasOtherID(parts map[int32]committedOffset, id string) bool {
	for _, o := range parts {
		if o.TopicID != "" && o.TopicID != id {
			return true
		}
	}
	return false
}

// current reports whether a stored commit belongs to the topic as it is
// now: not one that was deleted (and perhaps created again since). A
// commit stored without a topic id (before ids were kept) counts as
// current, as does any commit when the Coordinator has no Options.Topics.
func current(o committedOffset, infos map[string]topicInfo, topic string) bool {
	if infos == nil || o.TopicID == "" {
		return true
	}
	return belongs(o, infos[topic])
}

// belongs reports whether a stored commit is one of topic t: made to its
// id, or received after t was created. A broker whose cache still held
// the topic t replaced (for up to MetadataTTL) stamps a commit with the
// old id; made after t existed, it was made to t by name, as Kafka, which
// knows topics in commits by name, would take it. Brokers' clocks must
// agree, as for the receipt-time ordering of commits.
func belongs(o committedOffset, t topicInfo) bool {
	return t.known && (o.TopicID == t.id || o.CommitTime.UnixMilli() > t.createdMs)
}
