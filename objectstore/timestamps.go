package objectstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
)

// OffsetForTime returns the first offset whose record timestamp is at or
// after ts, with that record's timestamp, as Kafka's ListOffsets does. If no
// record is that late it returns offset -1. It reads the log from its start
// but for what the time index says is earlier than ts.
func (e *Engine) OffsetForTime(ctx context.Context, t Topic, partition int32, ts int64) (offset, timestamp int64, err error) {
	offset, timestamp = -1, -1
	l, err := e.startTimeLookup(ctx, t, partition)
	if err != nil {
		return offset, timestamp, err
	}
	p := l.p
	s := scan{
		from:    l.logStart,
		to:      l.next,
		skip:    rangesOf(l.entries, func(te timeEntry) bool { return te.maxTimestamp < ts }),
		indexed: l.indexed,
		index:   l.index,
	}
	err = p.scanBatches(ctx, s, func(h batchHeader, raw []byte, logStart int64) (bool, error) {
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
// empty. This is ListOffsets' MAX_TIMESTAMP (-3). It reads what the time
// index does not cover, then the entries that may hold a later record,
// latest first, until none can.
func (e *Engine) MaxTimestamp(ctx context.Context, t Topic, partition int32) (offset, timestamp int64, err error) {
	offset, timestamp = -1, -1
	l, err := e.startTimeLookup(ctx, t, partition)
	if err != nil {
		return offset, timestamp, err
	}
	p, entries, next := l.p, l.entries, l.next
	// Records are visited out of offset order (the gaps, then entries),
	// so an equal timestamp wins when its offset is earlier.
	visit := func(h batchHeader, raw []byte, logStart int64) (bool, error) {
		if h.MaxTimestamp < timestamp || h.MaxTimestamp == timestamp && h.BaseOffset > offset || h.lastOffset() < logStart {
			return true, nil
		}
		offsets, times, err := recordTimestamps(raw)
		if err != nil {
			return false, err
		}
		for i := range offsets {
			if offsets[i] >= logStart && (times[i] > timestamp || times[i] == timestamp && offsets[i] < offset) {
				offset, timestamp = offsets[i], times[i]
			}
		}
		return true, nil
	}
	s := scan{from: l.logStart, to: next, skip: l.indexed, indexed: l.indexed, index: l.index}
	if err := p.scanBatches(ctx, s, visit); err != nil {
		return -1, -1, err
	}
	slices.SortFunc(entries, func(a, b timeEntry) int {
		return cmp.Or(cmp.Compare(b.maxTimestamp, a.maxTimestamp), cmp.Compare(a.base, b.base))
	})
	for _, te := range entries {
		if te.maxTimestamp < timestamp {
			break
		}
		if te.maxTimestamp == timestamp && (offset < 0 || te.base > offset) {
			// No earlier than the best; or, with none yet (timestamp -1),
			// only records without a timestamp, which never answer.
			continue
		}
		s := scan{from: max(te.base, p.currentLogStart()), to: min(te.end, next)}
		if err := p.scanBatches(ctx, s, visit); err != nil {
			return -1, -1, err
		}
	}
	return offset, timestamp, nil
}

// timeLookup is where a lookup by time starts: the partition, loaded, its
// log start and high watermark, and the time index entries it can use.
type timeLookup struct {
	p              *partition
	logStart, next int64
	entries        []timeEntry  // by base offset
	indexed        offsetRanges // what entries cover
	index          bool         // whether the lookup indexes what it reads outside them
}

// startTimeLookup loads the partition and lists its time index entries:
// none for a log of a few objects, all in the partition's index, where
// listing the entries would cost more than reading the objects (and then
// the lookup writes none either).
func (e *Engine) startTimeLookup(ctx context.Context, t Topic, partition int32) (timeLookup, error) {
	p, err := e.partition(t, partition)
	if err != nil {
		return timeLookup{}, err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return timeLookup{}, err
	}
	p.maybeRefresh(ctx)
	p.mu.Lock()
	l := timeLookup{p: p, logStart: p.logStart, next: p.next}
	short := len(p.segments) <= timeRun && (len(p.segments) == 0 || p.segments[0].base <= l.logStart)
	p.mu.Unlock()
	if short {
		return l, nil
	}
	if l.entries, err = p.timeEntries(ctx, l.logStart, l.next); err != nil {
		return timeLookup{}, err
	}
	l.indexed = rangesOf(l.entries, func(timeEntry) bool { return true })
	l.index = true
	return l, nil
}

// scan says what scanBatches reads: the batches holding offsets [from, to)
// but for the ranges in skip. If index is set, each stretch it reads
// outside indexed (the time index entries) becomes an entry, timeRun
// batches at most; a shorter one only when an entry or a skip closes it, so
// that lookups reaching the tail do not leave an entry each behind.
type scan struct {
	from, to int64
	skip     offsetRanges
	indexed  offsetRanges
	index    bool
}

// scanBatches calls fn for each stored batch in s, oldest first, until fn
// returns false or an error. fn is given the log start, which the scan
// follows when objects are deleted under it.
func (p *partition) scanBatches(ctx context.Context, s scan, fn func(h batchHeader, raw []byte, logStart int64) (bool, error)) error {
	logStart := p.currentLogStart()
	cursor := max(s.from, logStart)
	var run timeRunner
	endRun := func(closed bool) {
		if s.index && run.n > 0 && (closed || run.n >= timeRun) {
			te, _ := run.take()
			p.putTimeEntry(te)
		}
		run = timeRunner{}
	}
	defer endRun(false)
	for cursor < s.to {
		end, nextSkip := s.skip.at(cursor)
		if end >= 0 {
			endRun(true)
			cursor = end
			continue
		}
		limit := s.to
		if nextSkip >= 0 {
			limit = min(limit, nextSkip)
		}
		from, stopped := cursor, false
		err := p.walkObjects(ctx, cursor, limit, func() int { return parallelReads }, func(data []byte) (int64, bool, error) {
			var fnErr error
			err := eachBatch(data, func(h batchHeader, raw []byte) bool {
				if h.lastOffset() < from {
					return true // skipped, or below the log start
				}
				cursor = max(cursor, h.lastOffset()+1)
				if s.indexed.covers(h.BaseOffset, h.lastOffset()+1) {
					endRun(true)
				} else if run.add(h.BaseOffset, h.lastOffset()+1, h.MaxTimestamp); run.n >= timeRun {
					endRun(false)
				}
				var more bool
				more, fnErr = fn(h, raw, logStart)
				stopped = !more || fnErr != nil
				return !stopped
			})
			return cursor, !stopped, errors.Join(err, fnErr)
		})
		switch {
		case errors.Is(err, errObjectGone):
			// Deleted: the log start moved (perhaps on another broker).
			run = timeRunner{}
			if cursor, logStart, err = p.skipDeleted(ctx, cursor); err != nil || cursor < 0 {
				return err
			}
		case err != nil || stopped || cursor < limit:
			return err // cursor < limit: no record after it
		}
	}
	return nil
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
