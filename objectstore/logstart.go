package objectstore

import (
	"context"
	"errors"
	"fmt"
)

// logStartDoc is the stored log start offset of a partition: records below
// it are deleted, whether or not their objects are gone yet.
type logStartDoc struct {
	Offset int64 `json:"offset"`
}

// reloadLogStart reads the log start offset again, after finding that an
// object we expected was deleted or that another broker moved it.
func (p *partition) reloadLogStart(ctx context.Context) error {
	var ls logStartDoc
	etag, err := p.e.readJSON(ctx, logStartKey(p.id.topicID, p.id.partition), &ls)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("read log start: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logStartETag = etag
	if ls.Offset > p.logStart {
		p.logStart = ls.Offset
		p.dropSegmentsBelow(ls.Offset)
	}
	return nil
}

// dropSegmentsBelow forgets objects entirely below offset. p.mu is held.
func (p *partition) dropSegmentsBelow(offset int64) {
	i := 0
	// Keep the last segment even if it is wholly deleted: its key is where
	// catching up resumes listing.
	for i < len(p.segments)-1 && p.segments[i].end <= offset {
		i++
	}
	p.segments = p.segments[i:]
}

// raiseLogStart moves the log start offset up to offset with a
// compare-and-swap, and returns the log start offset now in force (which
// another broker may have raised further).
func (p *partition) raiseLogStart(ctx context.Context, offset int64) (int64, error) {
	for {
		p.mu.Lock()
		cur, etag := p.logStart, p.logStartETag
		p.mu.Unlock()
		if offset <= cur {
			return cur, nil
		}
		newETag, err := p.e.writeJSON(ctx, logStartKey(p.id.topicID, p.id.partition), etag, logStartDoc{Offset: offset})
		if errors.Is(err, ErrPreconditionFailed) {
			if err := p.reloadLogStart(ctx); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("raise log start to %d: %w", offset, err)
		}
		p.mu.Lock()
		p.logStartETag = newETag
		if offset > p.logStart {
			p.logStart = offset
			p.dropSegmentsBelow(offset)
		}
		p.mu.Unlock()
		return offset, nil
	}
}

// DeleteRecords moves the partition's log start offset up to offset (-1:
// the high watermark). Records below it are gone for every reader at once;
// their objects are deleted by the partition's next sweep once they are
// older than RetentionSafety. It returns the new log start offset.
func (e *Engine) DeleteRecords(ctx context.Context, t Topic, partition int32, offset int64) (int64, error) {
	p, err := e.partition(t, partition)
	if err != nil {
		return 0, err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return 0, err
	}
	p.maybeRefresh(ctx)
	p.mu.Lock()
	hw := p.next
	p.mu.Unlock()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, fmt.Errorf("delete records to %d outside [0, %d]: %w", offset, hw, ErrOffsetOutOfRange)
	}
	low, err := p.raiseLogStart(ctx, offset)
	if err != nil {
		return 0, err
	}
	if err := p.sweep(ctx, t); err != nil {
		e.log.Warn("delete records: objects left for a later sweep", "topic", t.Name, "partition", partition, "err", err)
	}
	return low, nil
}
