package objectstore

import (
	"context"
	"fmt"
	"time"
)

// recallLimit bounds how many of the objects load skipped are kept to be
// read back for producer state (see lookBack).
const recallLimit = 1000

// skippedObject is an object load did not read for producer state.
type skippedObject struct {
	segment
	modified time.Time
}

// lookBack completes the producer table from the objects load skipped,
// the first time a queued batch could be the retry of a batch in one of
// them. load rebuilds producer state from the newest producerWindow
// objects only; a broker that has followed the tail since has read every
// newer object itself. So only the skipped objects can hold a batch the
// table does not know, and a retry of it would be appended a second time
// or refused as out of order (which makes the producer renumber it and
// send it again as new data). A batch may be such a retry when
// mayHaveOlder says so (its producer is unknown or known only in part),
// and then every skipped object is read; or when it is an unknown
// producer's first batch (sequence 0, which looks the same as a retry of
// it) within ProducerRetryHorizon after the load, and then only the
// objects written within the horizon before the load, so that a woken
// broker's first new producer does not read the partition's history; and
// not even those when this broker handed the producer its id after the
// load (the producer of a woken broker, most often), since no object load
// listed can hold a batch of it.
// Objects are read oldest first, parallelReads at a time, each at most
// once per load. p.writeMu is held.
func (p *partition) lookBack(ctx context.Context, items []*pendingAppend) error {
	p.mu.Lock()
	unreadEnd := len(p.skipped) - p.skippedRead
	from := unreadEnd // index of the oldest skipped object to read
	for _, it := range items {
		h := it.header
		if !h.idempotent() {
			continue
		}
		if p.producers.mayHaveOlder(h) {
			from = 0
			break
		}
		if _, known := p.producers[h.ProducerID]; !known && h.BaseSequence == 0 && !olderThan(p.loadedAt, p.e.opts.ProducerRetryHorizon) && !p.e.issuedAfter(h.ProducerID, p.loadedAt) {
			horizon := p.loadedAt.Add(-p.e.opts.ProducerRetryHorizon)
			for from > 0 && !p.skipped[from-1].modified.Before(horizon) {
				from--
			}
		}
	}
	unread := p.skipped[from:unreadEnd]
	p.mu.Unlock()
	if len(unread) == 0 {
		return nil
	}

	older := make(producerTable)
	for len(unread) > 0 {
		chunk := unread[:min(parallelReads, len(unread))]
		unread = unread[len(chunk):]
		segs := make([]segment, len(chunk))
		for i, o := range chunk {
			segs[i] = o.segment
		}
		objects, err := p.e.readObjects(ctx, segs)
		if err != nil {
			return fmt.Errorf("look back for producers: %w", err)
		}
		for i, data := range objects {
			if data == nil {
				continue // removed by retention or DeleteRecords meanwhile
			}
			if err := older.recordObject(data); err != nil {
				return fmt.Errorf("look back for producers: %s: %w", segs[i].key, err)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, st := range older {
		p.producers.mergeOlder(pid, st)
	}
	p.skippedRead = len(p.skipped) - from
	return nil
}
