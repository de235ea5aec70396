package objectstore

import (
	"context"
	"errors"
)

// OffsetForTime returns the first offset whose record timestamp is at or
// after ts, with that record's timestamp, as Kafka's ListOffsets does. If no
// record is that late it returns offset -1.
func (e *Engine) OffsetForTime(ctx context.Context, t Topic, partition int32, ts int64) (offset, timestamp int64, err error) {
	offset, timestamp = -1, -1
	err = e.scanBatches(ctx, t, partition, func(h batchHeader, raw []byte, logStart int64) (bool, error) {
		if h.MaxTimestamp < ts || h.lastOffset() < logStart {
			return true, nil
		}
		offsets, times, err := recordTimestamps(raw)
		if err != nil {
			return false, err
		}
		for i := range offsets {
			if offsets[i] >= logStart && times[i] >= ts {
				offset, timestamp = offsets[i], times[i]
				return false, nil
			}
		}
		return true, nil
	})
	return offset, timestamp, err
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (the earliest such record), or -1, -1 if the log is
// empty. This is ListOffsets' MAX_TIMESTAMP (-3).
func (e *Engine) MaxTimestamp(ctx context.Context, t Topic, partition int32) (offset, timestamp int64, err error) {
	offset, timestamp = -1, -1
	err = e.scanBatches(ctx, t, partition, func(h batchHeader, raw []byte, logStart int64) (bool, error) {
		if h.MaxTimestamp <= timestamp || h.lastOffset() < logStart {
			return true, nil
		}
		offsets, times, err := recordTimestamps(raw)
		if err != nil {
			return false, err
		}
		for i := range offsets {
			if offsets[i] >= logStart && times[i] > timestamp {
				offset, timestamp = offsets[i], times[i]
			}
		}
		return true, nil
	})
	return offset, timestamp, err
}

// scanBatches calls fn for each stored batch of the partition from the log
// start, oldest first, until fn returns false or an error.
func (e *Engine) scanBatches(ctx context.Context, t Topic, partition int32, fn func(h batchHeader, raw []byte, logStart int64) (bool, error)) error {
	p, err := e.partition(t, partition)
	if err != nil {
		return err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return err
	}
	p.maybeRefresh(ctx)
	p.mu.Lock()
	logStart, next := p.logStart, p.next
	p.mu.Unlock()
	cursor := logStart
	for {
		err := p.walkObjects(ctx, cursor, next, func() int { return parallelReads }, func(data []byte) (int64, bool, error) {
			var fnErr error
			more := true
			err := eachBatch(data, func(h batchHeader, raw []byte) bool {
				cursor = max(cursor, h.lastOffset()+1)
				more, fnErr = fn(h, raw, logStart)
				return more && fnErr == nil
			})
			return cursor, more, errors.Join(err, fnErr)
		})
		if !errors.Is(err, errObjectGone) {
			return err
		}
		// Deleted: the log start moved (perhaps on another broker).
		if cursor, logStart, err = p.skipDeleted(ctx, cursor); err != nil || cursor < 0 {
			return err
		}
	}
}

// skipDeleted rereads the log start after a scan found the object at cursor
// gone, and returns where the scan resumes (the new log start) and that
// log start; a negative cursor when the log start did not pass cursor, and
// there is nothing more to scan.
func (p *partition) skipDeleted(ctx context.Context, cursor int64) (next, logStart int64, err error) {
	if err := p.reloadLogStart(ctx); err != nil {
		return -1, 0, err
	}
	logStart = p.currentLogStart()
	if logStart <= cursor {
		return -1, logStart, nil
	}
	return logStart, logStart, nil
}
