package objectstore

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Retention removes whole objects, as Kafka removes whole segments.
//
// A sweep lists the partition from its oldest object (only as far as there
// can be something to remove; see listSweepable), raises the log start
// offset past objects
// that retention.ms or retention.bytes no longer keep (judging an object's
// age by when it was written, and never touching the newest object), and
// then deletes the objects wholly below the log start offset that are older
// than RetentionSafety (see tail.go for why young objects must stay), and
// the time index entries wholly below it.
// Sweeps piggyback on appends and reads, at most once per SweepInterval per
// partition, so an idle broker makes no requests for them.

// Kafka's defaults for topics that do not set retention.
const (
	defaultRetentionMs    = 7 * 24 * 60 * 60 * 1000
	defaultRetentionBytes = -1
)

// maybeSweep starts a background sweep if this partition has not had one
// for SweepInterval, and forgets the idempotent producers it has not seen
// for ProducerExpiry.
func (p *partition) maybeSweep(t Topic) {
	p.mu.Lock()
	due := olderThan(p.swept, p.e.opts.SweepInterval)
	if due {
		p.swept = time.Now()
		p.producers.expire(p.swept.Add(-p.e.opts.ProducerExpiry))
	}
	p.mu.Unlock()
	if !due {
		return
	}
	p.e.background.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.sweep(ctx, t); err != nil {
			p.e.log.Warn("retention sweep", "topic", t.Name, "partition", p.id.partition, "err", err)
		}
	})
}

// sweep applies the topic's retention and deletes expired objects.
func (p *partition) sweep(ctx context.Context, t Topic) error {
	now := time.Now()
	retentionMs := configInt(t.Configs, "retention.ms", defaultRetentionMs)
	retentionBytes := configInt(t.Configs, "retention.bytes", defaultRetentionBytes)
	objs, err := p.listSweepable(ctx, func(o ObjectInfo) bool {
		if retentionBytes >= 0 {
			return true // the partition's size counts every object
		}
		base, _ := segmentBase(o.Key)
		expired := retentionMs >= 0 && now.Sub(o.LastModified) > time.Duration(retentionMs)*time.Millisecond
		return expired || base < p.currentLogStart()
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	objs = keepSegments(partitionPrefix(p.id.topicID, p.id.partition), objs)
	segs := segmentsOf(objs) // segs[i] is objs[i]
	if len(segs) < 2 {
		return nil // the newest object always stays
	}
	candidates := segs[:len(segs)-1] // each one's end is known

	var total int64
	for _, o := range objs {
		total += o.Size
	}
	var newStart int64 = -1
	for i, seg := range candidates {
		o := objs[i]
		expired := retentionMs >= 0 && now.Sub(o.LastModified) > time.Duration(retentionMs)*time.Millisecond
		oversize := retentionBytes >= 0 && total-o.Size >= retentionBytes
		if !expired && !oversize {
			break
		}
		newStart = seg.end
		total -= o.Size
	}
	logStart := p.currentLogStart()
	if newStart > logStart {
		if logStart, err = p.raiseLogStart(ctx, newStart); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	deleted := 0
	for i, seg := range candidates {
		if seg.end > logStart {
			break
		}
		if now.Sub(objs[i].LastModified) < p.e.opts.RetentionSafety {
			break // its turn comes in a later sweep
		}
		if err := p.e.bucket.Delete(ctx, seg.key); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		p.e.cache.remove(seg.key)
		deleted++
	}
	if deleted > 0 {
		// The time index entries of what is gone go with it.
		if err := p.sweepTimeIndex(ctx, logStart); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	return nil
}

// listSweepable lists the partition oldest first, a page at a time, and
// stops after a page whose last object is not one more (want says whether
// it is) might remove: objects are written in offset order, so the ones
// after it are younger. A sweep of a partition with a long history reads
// the part of it retention is about to remove, not all of it.
func (p *partition) listSweepable(ctx context.Context, want func(ObjectInfo) bool) ([]ObjectInfo, error) {
	return listWhile(ctx, p.e.bucket, partitionPrefix(p.id.topicID, p.id.partition), "", p.e.listPage, want)
}

func (p *partition) currentLogStart() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart
}

// configInt reads a numeric topic config, or def when unset or unreadable
// (configs are validated when they are set).
func configInt(configs map[string]string, name string, def int64) int64 {
	v, ok := configs[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}
