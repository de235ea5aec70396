package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// How a broker learns what other brokers appended.
//
// Every broker's idea of a partition's tail is an offset at which some
// object ends, so the next object, whoever writes it, starts exactly there:
// a GET of the key for our tail either finds nothing (nobody appended) or
// finds the next object. A reader at the end of the log therefore costs one
// GET per TailRefresh, never a LIST.
//
// That probe is only sound while the object at our tail cannot have been
// deleted: retention and DeleteRecords only delete objects written more
// than RetentionSafety ago, and a tail that has not been confirmed against
// the bucket for TailTrust (much shorter) is rechecked with a LIST before
// it is used to read or write.

// untrusted reports whether the tail is too old to probe with a GET or to
// write at without checking.
func (p *partition) untrusted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return olderThan(p.refreshed, p.e.opts.TailTrust)
}

// olderThan compares by both the monotonic and the wall clock, so that a
// process suspended and resumed (a VM snapshot, Fly's suspend) still sees
// the time that passed while it was stopped.
func olderThan(t time.Time, d time.Duration) bool {
	return time.Since(t) >= d || time.Now().Round(0).Sub(t.Round(0)) >= d
}

// maybeRefresh looks for other brokers' objects if the tail has not been
// compared with the bucket for TailRefresh. It never waits for a write in
// progress: that write will move the tail anyway.
func (p *partition) maybeRefresh(ctx context.Context) {
	p.mu.Lock()
	stale := olderThan(p.refreshed, p.e.opts.TailRefresh)
	p.mu.Unlock()
	if !stale || !p.writeMu.tryLock() {
		return
	}
	defer p.writeMu.unlock()
	if _, err := p.catchUp(ctx); err != nil {
		p.e.log.Warn("refreshing partition tail", "topic_id", p.id.topicID, "partition", p.id.partition, "err", err)
	}
}

// refresh looks for other brokers' objects now, waiting for a write in
// progress to finish first.
func (p *partition) refresh(ctx context.Context) error {
	if err := p.writeMu.lock(ctx); err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	defer p.writeMu.unlock()
	_, err := p.catchUp(ctx)
	return err
}

// catchUp adds the objects other brokers wrote after our tail: by GET
// probes while the tail is trusted, by a LIST otherwise. p.writeMu is held.
func (p *partition) catchUp(ctx context.Context) (grew bool, err error) {
	if p.untrusted() {
		grew, err = p.catchUpByList(ctx)
	} else {
		grew, err = p.catchUpByProbe(ctx)
	}
	if err != nil {
		return grew, fmt.Errorf("catch up: %w", err)
	}
	p.mu.Lock()
	p.refreshed = time.Now()
	p.mu.Unlock()
	if grew {
		p.e.notifyAppended()
	}
	return grew, nil
}

// catchUpByProbe reads the object at the tail until there is none.
func (p *partition) catchUpByProbe(ctx context.Context) (grew bool, err error) {
	for {
		p.mu.Lock()
		key := p.key(p.next)
		p.mu.Unlock()
		data, err := p.e.readObject(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return grew, nil
		}
		if err != nil {
			return grew, err
		}
		if err := p.addObject(key, data); err != nil {
			return grew, err
		}
		grew = true
	}
}

// catchUpByList lists the keys after our newest known object.
func (p *partition) catchUpByList(ctx context.Context) (grew bool, err error) {
	p.mu.Lock()
	after := ""
	if n := len(p.segments); n > 0 {
		after = p.segments[n-1].key
	}
	p.mu.Unlock()
	prefix := partitionPrefix(p.id.topicID, p.id.partition)
	objs, err := ListAll(ctx, p.e.bucket, prefix, after)
	if err != nil {
		return false, err
	}
	for _, o := range keepSegments(prefix, objs) {
		data, err := p.e.readObject(ctx, o.Key)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return grew, err
		}
		if err := p.addObject(o.Key, data); err != nil {
			return grew, err
		}
		grew = true
	}
	return grew, nil
}

// addObject indexes an object another broker wrote at the tail.
func (p *partition) addObject(key string, data []byte) error {
	base, ok := segmentBase(key)
	if !ok {
		return fmt.Errorf("%s: not a segment key", key)
	}
	end, err := objectEnd(data)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if end <= p.next {
		return nil // already known
	}
	if err := p.producers.recordObject(data); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	p.segments = append(p.segments, segment{base: base, end: end, key: key})
	p.trimIndex()
	p.next = end
	return nil
}
