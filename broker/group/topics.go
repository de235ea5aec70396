package group

import (
	"context"
	"errors"

	"github.com/siestamq/siesta/objectstore"
)

// topicInfo is what Options.Topics says of one topic now.
type topicInfo struct {
	id         string
	partitions int32
	known      bool
}

// has reports whether partition p exists in the topic.
func (t topicInfo) has(p int32) bool { return t.known && p >= 0 && p < t.partitions }

// lookupTopics asks Options.Topics about each named topic once (a name no
// topic can have is unknown). It
// returns nil when the Coordinator has no Options.Topics: then every
// partition counts as existing and commits carry no topic id.
func (c *Coordinator) lookupTopics(ctx context.Context, names []string) (map[string]topicInfo, error) {
	if c.opts.Topics == nil {
		return nil, nil
	}
	infos := make(map[string]topicInfo, len(names))
	for _, name := range names {
		if _, done := infos[name]; done {
			continue
		}
		id, partitions, err := c.opts.Topics(ctx, name)
		switch {
		case errors.Is(err, objectstore.ErrUnknownTopic), errors.Is(err, objectstore.ErrInvalidTopicName):
			infos[name] = topicInfo{}
		case err != nil:
			return nil, err
		default:
			infos[name] = topicInfo{id: id, partitions: partitions, known: true}
		}
	}
	return infos, nil
}

// current reports whether a stored commit belongs to the topic as it is
// now: not one that was deleted (and perhaps created again since). A
// commit stored without a topic id (before ids were kept) counts as
// current, as does any commit when the Coordinator has no Options.Topics.
func current(o committedOffset, infos map[string]topicInfo, topic string) bool {
	if infos == nil || o.TopicID == "" {
		return true
	}
	t := infos[topic]
	return t.known && t.id == o.TopicID
}
