package objectstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Errors about topic requests.
var (
	ErrInvalidTopicName  = errors.New("invalid topic name")
	ErrInvalidPartitions = errors.New("invalid partition count")
)

// MaxPartitions bounds a topic's partition count, so that one request
// cannot make the engine allocate without bound.
const MaxPartitions = 10000

// Topic is a topic's metadata as stored in the bucket.
type Topic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"` // 32 hex digits, Kafka's 16-byte topic id
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedMs  int64             `json:"created_ms"`
	// Revision grows with every update, so that the stored document
	// never returns to an earlier content (see Bucket.PutIfMatch).
	Revision int64 `json:"revision"`
}

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrInvalidTopicName, name)
	case len(name) > 249:
		return fmt.Errorf("%w: longer than 249 characters", ErrInvalidTopicName)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q has a character other than ASCII letters, digits, '.', '_' and '-'", ErrInvalidTopicName, name)
		}
	}
	return nil
}

// CreateTopic creates a topic. Two brokers creating the same topic at once
// give one ErrTopicExists.
func (e *Engine) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return Topic{}, err
	}
	if partitions < 1 || partitions > MaxPartitions {
		return Topic{}, fmt.Errorf("%w: %d (1 to %d)", ErrInvalidPartitions, partitions, MaxPartitions)
	}
	t := Topic{Name: name, ID: randomHex(16), Partitions: partitions, Configs: maps.Clone(configs), CreatedMs: time.Now().UnixMilli()}
	etag, err := e.writeJSON(ctx, topicKey(name), "", t)
	if errors.Is(err, ErrPreconditionFailed) {
		return Topic{}, fmt.Errorf("create topic %s: %w", name, ErrTopicExists)
	}
	if err != nil {
		return Topic{}, fmt.Errorf("create topic %s: %w", name, err)
	}
	e.remember(t, etag)
	return t, nil
}

func (e *Engine) remember(t Topic, etag string) {
	e.mu.Lock()
	e.topics[t.Name] = &topicEntry{topic: t, etag: etag, fetched: time.Now()}
	e.mu.Unlock()
}

func (e *Engine) forget(name string) {
	e.mu.Lock()
	delete(e.topics, name)
	e.mu.Unlock()
}

// Topic returns a topic's metadata, read from the bucket unless a copy
// younger than MetadataTTL is cached. Its Configs map is shared: callers
// must not modify it.
func (e *Engine) Topic(ctx context.Context, name string) (Topic, error) {
	t, _, err := e.topic(ctx, name, false)
	return t, err
}

func (e *Engine) topic(ctx context.Context, name string, fresh bool) (Topic, string, error) {
	e.mu.Lock()
	ent, ok := e.topics[name]
	e.mu.Unlock()
	if ok && !fresh && time.Since(ent.fetched) < e.opts.MetadataTTL {
		return ent.topic, ent.etag, nil
	}
	if err := ValidateTopicName(name); err != nil {
		return Topic{}, "", err
	}
	var t Topic
	etag, err := e.readJSON(ctx, topicKey(name), &t)
	if errors.Is(err, ErrNotFound) {
		e.forget(name)
		return Topic{}, "", fmt.Errorf("topic %s: %w", name, ErrUnknownTopic)
	}
	if err != nil {
		return Topic{}, "", fmt.Errorf("read topic %s: %w", name, err)
	}
	e.remember(t, etag)
	return t, etag, nil
}

// Topics returns every topic, sorted by name.
func (e *Engine) Topics(ctx context.Context) ([]Topic, error) {
	e.mu.Lock()
	if time.Since(e.listed) < e.opts.MetadataTTL {
		out := make([]Topic, 0, len(e.topics))
		for _, ent := range e.topics {
			out = append(out, ent.topic)
		}
		e.mu.Unlock()
		slices.SortFunc(out, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	e.mu.Unlock()

	objs, err := ListAll(ctx, e.bucket, topicsPrefix, "")
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	out := make([]Topic, 0, len(objs))
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, topicsPrefix)
		seen[name] = true
		e.mu.Lock()
		ent, ok := e.topics[name]
		e.mu.Unlock()
		if ok && ent.etag == o.ETag {
			out = append(out, ent.topic)
			continue
		}
		t, err := e.Topic(ctx, name)
		if errors.Is(err, ErrUnknownTopic) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	e.mu.Lock()
	for name := range e.topics {
		if !seen[name] {
			delete(e.topics, name)
		}
	}
	e.listed = time.Now()
	e.mu.Unlock()
	return out, nil
}

// TopicByID finds a topic by its id.
func (e *Engine) TopicByID(ctx context.Context, id string) (Topic, error) {
	topics, err := e.Topics(ctx)
	if err != nil {
		return Topic{}, err
	}
	for _, t := range topics {
		if t.ID == id {
			return t, nil
		}
	}
	return Topic{}, fmt.Errorf("topic id %s: %w", id, ErrUnknownTopicID)
}

// updateTopic applies fn to the stored topic with compare-and-swap,
// retrying when another broker changed it first.
func (e *Engine) updateTopic(ctx context.Context, name string, fn func(*Topic) error) (Topic, error) {
	for {
		t, etag, err := e.topic(ctx, name, true)
		if err != nil {
			return Topic{}, err
		}
		if err := fn(&t); err != nil {
			return Topic{}, err
		}
		t.Revision++
		newETag, err := e.writeJSON(ctx, topicKey(name), etag, t)
		if errors.Is(err, ErrPreconditionFailed) {
			continue
		}
		if err != nil {
			return Topic{}, fmt.Errorf("update topic %s: %w", name, err)
		}
		e.remember(t, newETag)
		return t, nil
	}
}

// CreatePartitions raises a topic's partition count to count.
func (e *Engine) CreatePartitions(ctx context.Context, name string, count int32) (Topic, error) {
	return e.updateTopic(ctx, name, func(t *Topic) error {
		if count <= t.Partitions {
			return fmt.Errorf("%w: topic %s has %d partitions, cannot go to %d", ErrInvalidPartitions, name, t.Partitions, count)
		}
		if count > MaxPartitions {
			return fmt.Errorf("%w: %d is more than %d", ErrInvalidPartitions, count, MaxPartitions)
		}
		t.Partitions = count
		return nil
	})
}

// UpdateTopicConfigs lets fn change a topic's configs, atomically.
func (e *Engine) UpdateTopicConfigs(ctx context.Context, name string, fn func(configs map[string]string) error) (Topic, error) {
	return e.updateTopic(ctx, name, func(t *Topic) error {
		// The map read from the cache is shared with its readers: change
		// a copy, and only keep it if fn accepts it.
		configs := maps.Clone(t.Configs)
		if configs == nil {
			configs = make(map[string]string)
		}
		if err := fn(configs); err != nil {
			return err
		}
		t.Configs = configs
		return nil
	})
}

// DeleteTopic removes a topic and then its objects. Once the metadata is
// gone the topic is deleted for every broker; objects left behind by a
// crash midway are under the old topic id and never read again.
func (e *Engine) DeleteTopic(ctx context.Context, name string) error {
	t, _, err := e.topic(ctx, name, true)
	if err != nil {
		return err
	}
	if err := e.bucket.Delete(ctx, topicKey(name)); err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	e.forget(name)
	e.dropPartitions(t.ID)
	for _, prefix := range []string{dataPrefix + t.ID + "/", logStartPrefix + t.ID + "/", timePrefix + t.ID + "/"} {
		if err := e.deletePrefix(ctx, prefix); err != nil {
			e.log.Warn("topic deleted, but some of its objects remain", "topic", name, "prefix", prefix, "err", err)
		}
	}
	return nil
}

func (e *Engine) deletePrefix(ctx context.Context, prefix string) error {
	objs, err := ListAll(ctx, e.bucket, prefix, "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := e.bucket.Delete(ctx, o.Key); err != nil {
			return err
		}
		e.cache.remove(o.Key)
	}
	return nil
}

func (e *Engine) dropPartitions(topicID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range e.partitions {
		if id.topicID == topicID {
			delete(e.partitions, id)
		}
	}
}
