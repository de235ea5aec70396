package objectstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/siestamq/siesta/internal/bounded"
)

// The time index lets ListOffsets by timestamp (and MAX_TIMESTAMP) pass
// over a partition's history without reading it: without it, finding the
// first record at or after a time read every object from the log start, a
// GET each (a week of one flush a second is 600,000).
//
// An entry is a key with no body (timeEntryKey), and says: no record with
// an offset in [base, end) has a timestamp later than maxTimestamp (by the
// batches' MaxTimestamp, which the lookups trust as before). Objects never
// change, so an entry never goes stale: entries may overlap, come from any
// broker, be written twice, or be lost (a broker killed before it wrote
// one) without harm; the index is a cache of facts, and a gap in it only
// costs reading the objects in the gap. Lookups list the entries (one LIST
// per 1,000, each covering up to timeRun objects), skip what they can, and
// read the rest. Two writers keep it filled:
//   - an appender, for each run of timeRun objects it wrote one after
//     another (the common case: one broker writes the partition), and for
//     the shorter run it has when the broker stops (Drain);
//   - a lookup, for each stretch of batches it had to read that no entry
//     covered (runs broken by other brokers' appends, a broker killed, a
//     history written before the index), so that the next lookup skips it.
//
// Retention deletes the entries wholly below the log start.

// timeRun is how many objects an appender's entry covers, and how many
// batches a lookup's: about 1.6% more PUTs for appends, and a lookup reads
// at most this many objects past the entries it skips.
const timeRun = 64

// timeEntry is one entry of the time index.
type timeEntry struct {
	base, end    int64
	maxTimestamp int64
}

// timeRunner gathers a contiguous run of offsets, and the latest
// timestamp in them, until it becomes an entry.
type timeRunner struct {
	timeEntry
	n int // objects or batches in it
}

// add extends the run with [base, end), whose latest timestamp is maxTs,
// or starts a new run there when it does not continue this one.
func (r *timeRunner) add(base, end, maxTs int64) {
	if r.n == 0 || r.end != base {
		*r = timeRunner{timeEntry{base, end, maxTs}, 1}
		return
	}
	r.end = end
	r.maxTimestamp = max(r.maxTimestamp, maxTs)
	r.n++
}

// take returns the run as an entry, if it has anything, and empties it.
func (r *timeRunner) take() (timeEntry, bool) {
	te, ok := r.timeEntry, r.n > 0
	*r = timeRunner{}
	return te, ok
}

// appended records an object this broker wrote at [base, end) in the
// appender's run, and returns the run as an entry when it is timeRun
// objects long. p.mu is held.
func (p *partition) appended(base, end, maxTs int64) (timeEntry, bool) {
	p.appendRun.add(base, end, maxTs)
	if p.appendRun.n < timeRun {
		return timeEntry{}, false
	}
	return p.appendRun.take()
}

// putTimeEntry writes an entry in the background: an index entry is worth
// a PUT, not a wait, and a lost one only costs a later lookup some reads.
func (p *partition) putTimeEntry(te timeEntry) {
	p.e.background.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.writeTimeEntry(ctx, te); err != nil {
			p.e.log.Warn("time index", "topic_id", p.id.topicID, "partition", p.id.partition, "err", err)
		}
	})
}

func (p *partition) writeTimeEntry(ctx context.Context, te timeEntry) error {
	key := timeEntryKey(p.id.topicID, p.id.partition, te)
	if _, err := p.e.bucket.PutIfAbsent(ctx, key, nil); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// Drain writes the time index entries of the runs of objects this broker
// appended since their last entries, so that a broker stopping (idle, or
// for a deploy) leaves what it wrote indexed.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.Lock()
	parts := make([]*partition, 0, len(e.partitions))
	for _, p := range e.partitions {
		parts = append(parts, p)
	}
	e.mu.Unlock()
	var errs []error
	for _, p := range parts {
		p.mu.Lock()
		te, ok := p.appendRun.take()
		p.mu.Unlock()
		if ok {
			errs = append(errs, p.writeTimeEntry(ctx, te))
		}
	}
	return errors.Join(errs...)
}

// timeEntries lists the partition's time index entries that reach past
// logStart, by base offset. A long index is listed in a few rounds, not a
// LIST after another: the first page tells how many offsets an entry
// spans, and the rest of the key space (keys are zero-padded offsets) is
// cut into ranges of about a page each, listed searchProbes*2 at a time.
func (p *partition) timeEntries(ctx context.Context, logStart, next int64) ([]timeEntry, error) {
	prefix := timeIndexPrefix(p.id.topicID, p.id.partition)
	page := p.e.listPage
	first, err := p.e.bucket.List(ctx, prefix, "", page)
	if err != nil {
		return nil, fmt.Errorf("list time index: %w", err)
	}
	objs := first
	if len(first) == page {
		rest, err := p.listTimeRanges(ctx, prefix, first, next)
		if err != nil {
			return nil, fmt.Errorf("list time index: %w", err)
		}
		objs = append(objs, rest...)
	}
	entries := make([]timeEntry, 0, len(objs))
	for _, o := range objs {
		if te, ok := parseTimeEntry(prefix, o.Key); ok && te.end > logStart {
			entries = append(entries, te)
		}
	}
	slices.SortFunc(entries, func(a, b timeEntry) int { return cmp.Compare(a.base, b.base) })
	return entries, nil
}

// listTimeRanges lists the entries after a full first page of them, in
// ranges of base offsets listed at once.
func (p *partition) listTimeRanges(ctx context.Context, prefix string, first []ObjectInfo, next int64) ([]ObjectInfo, error) {
	page := p.e.listPage
	var lo, hi int64 = -1, -1 // the bases of the first page's entries
	for _, o := range first {
		if te, ok := parseTimeEntry(prefix, o.Key); ok {
			if lo < 0 {
				lo = te.base
			}
			hi = te.base
		}
	}
	// Ranges [starts[i], starts[i+1]) of about a page of entries each, up
	// to next (the last one open-ended: entries past a stale next).
	span := max(1, (hi-lo)/int64(len(first))) * int64(page)
	starts := []int64{hi}
	for x := hi + span; x < next && len(starts) < maxTimeRanges; x += span {
		starts = append(starts, x)
	}
	if len(starts) == maxTimeRanges {
		// A history longer than the first page suggests: wider ranges.
		step := (next - hi) / maxTimeRanges
		for i := range starts {
			starts[i] = hi + int64(i)*step
		}
	}
	lists := make([][]ObjectInfo, len(starts))
	errs := make([]error, len(starts))
	bounded.Run(len(starts), 2*p.e.searchProbes, func(i int) {
		startAfter := first[len(first)-1].Key // the first range goes on from the first page
		if i > 0 {
			startAfter = fmt.Sprintf("%s%020d", prefix, starts[i])
		}
		end := int64(maxOffset)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		objs, err := listWhile(ctx, p.e.bucket, prefix, startAfter, page, func(o ObjectInfo) bool {
			te, ok := parseTimeEntry(prefix, o.Key)
			return !ok || te.base < end
		})
		lists[i], errs[i] = slices.DeleteFunc(objs, func(o ObjectInfo) bool {
			te, ok := parseTimeEntry(prefix, o.Key)
			return ok && te.base >= end
		}), err
	})
	return slices.Concat(lists...), errors.Join(errs...)
}

// maxTimeRanges bounds the ranges of the time index listed at once.
const maxTimeRanges = 64

// sweepTimeIndex deletes the entries wholly below logStart.
func (p *partition) sweepTimeIndex(ctx context.Context, logStart int64) error {
	prefix := timeIndexPrefix(p.id.topicID, p.id.partition)
	objs, err := listWhile(ctx, p.e.bucket, prefix, "", p.e.listPage, func(o ObjectInfo) bool {
		te, ok := parseTimeEntry(prefix, o.Key)
		return !ok || te.base < logStart
	})
	if err != nil {
		return fmt.Errorf("list time index: %w", err)
	}
	for _, o := range objs {
		if te, ok := parseTimeEntry(prefix, o.Key); ok && te.end <= logStart {
			if err := p.e.bucket.Delete(ctx, o.Key); err != nil {
				return fmt.Errorf("delete %s: %w", o.Key, err)
			}
		}
	}
	return nil
}

// offsetRanges is a sorted list of disjoint offset ranges.
type offsetRanges []timeEntry

// rangesOf merges the entries keep accepts into disjoint ranges. entries
// are sorted by base.
func rangesOf(entries []timeEntry, keep func(timeEntry) bool) offsetRanges {
	var rs offsetRanges
	for _, te := range entries {
		if !keep(te) {
			continue
		}
		if n := len(rs); n > 0 && te.base <= rs[n-1].end {
			rs[n-1].end = max(rs[n-1].end, te.end)
			continue
		}
		rs = append(rs, timeEntry{base: te.base, end: te.end})
	}
	return rs
}

// at returns the end of the range holding offset, or -1; and the start of
// the first range after offset, or -1.
func (rs offsetRanges) at(offset int64) (end, nextStart int64) {
	i, _ := slices.BinarySearchFunc(rs, offset, func(r timeEntry, o int64) int {
		if r.end <= o {
			return -1
		}
		return 1
	})
	if i == len(rs) {
		return -1, -1
	}
	if rs[i].base <= offset {
		return rs[i].end, -1
	}
	return -1, rs[i].base
}

// covers reports whether [base, end) lies in one range.
func (rs offsetRanges) covers(base, end int64) bool {
	e, _ := rs.at(base)
	return e >= end
}
