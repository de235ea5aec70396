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

// lookupTopics asks Options.Topics about each named topic once,
// parallelLookups at a time. It returns nil when the Coordinator
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
		found[i], errs[i] = c.lookupTopic(ctx, unique[i])
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
func (c *Coordinator) lookupTopic(ctx context.Context, name string) (topicInfo, error) {
	t, err := c.opts.Topics(ctx, name)
	switch {
	case errors.Is(err, objectstore.ErrUnknownTopic), errors.Is(err, objectstore.ErrInvalidTopicName):
		return topicInfo{}, nil
	case err != nil:
		return topicInfo{}, err
	}
	return topicInfo{id: t.ID, partitions: t.Partitions, createdMs: t.CreatedMs, known: true}, nil
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
