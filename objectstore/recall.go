package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// recallLimit bounds how many objects recall reads, newest first, to find
// the batches of a producer that the producer table does not know.
const recallLimit = 1000

// recall looks further back in the log for the batches of idempotent
// producers that the producer table may know only in part (see
// mayHaveOlder). load rebuilds producer state from the newest objects only,
// and when several producers share a partition, some of a producer's last
// batches can be older than those: without recall, its retry of a batch
// written before a broker restart (or on another broker) would be appended
// a second time, or refused as out of order, which makes the producer
// renumber it and send it again as new data. Each producer is looked for
// once per load; one not found within recallLimit objects keeps what the
// table knew.
// p.writeMu is held.
func (p *partition) recall(ctx context.Context, items []*pendingAppend) error {
	p.mu.Lock()
	var missing map[int64][]batchHeader // newest producerWindow batches found, oldest first
	for _, it := range items {
		h := it.header
		if _, looked := p.recalled[h.ProducerID]; looked || !h.idempotent() || !p.producers.mayHaveOlder(h) {
			continue
		}
		if missing == nil {
			missing = make(map[int64][]batchHeader)
		}
		missing[h.ProducerID] = nil
	}
	if len(missing) == 0 {
		p.mu.Unlock()
		return nil
	}
	segs := append([]segment(nil), p.segments[max(0, len(p.segments)-recallLimit):]...)
	p.mu.Unlock()

	complete := 0 // producers with producerWindow batches found
	for i := len(segs) - 1; i >= 0 && complete < len(missing); i-- {
		data, err := p.e.readObject(ctx, segs[i].key)
		if errors.Is(err, ErrNotFound) {
			break // removed by retention or DeleteRecords: nothing older is left
		}
		if err != nil {
			return fmt.Errorf("recall producers: %w", err)
		}
		found := make(map[int64][]batchHeader)
		err = eachBatch(data, func(h batchHeader, _ []byte) bool {
			if _, ok := missing[h.ProducerID]; ok && h.idempotent() {
				found[h.ProducerID] = append(found[h.ProducerID], h)
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("recall producers: %s: %w", segs[i].key, err)
		}
		for pid, hs := range found {
			had := missing[pid]
			if len(had) >= producerWindow {
				continue
			}
			all := append(hs, had...)
			missing[pid] = all[max(0, len(all)-producerWindow):]
			if len(had) < producerWindow && len(missing[pid]) >= producerWindow {
				complete++
			}
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recalled == nil {
		p.recalled = make(map[int64]time.Time)
	}
	for pid, hs := range missing {
		p.recalled[pid] = time.Now()
		if len(hs) == 0 {
			continue
		}
		// The scan started at the newest object, so what it found
		// includes whatever the table knew of the producer: replace.
		delete(p.producers, pid)
		for _, h := range hs {
			p.producers.record(h, h.BaseOffset)
		}
	}
	return nil
}

// recallRecent completes the producer table with the objects load did not
// read but that were written within the retry horizon before it. It runs
// the first time a batch could be the retry of a batch in one of them and
// nothing else would notice: a producer's first batch on the partition
// (sequence 0, which recall takes as new) from a producer the table does
// not know, within the horizon after the load. A broker that has followed
// the tail since the load has read every newer object itself, so only
// these can hold such a batch. They are read once per load, a few at a
// time, at most recallLimit of them (load keeps the newest). p.writeMu is
// held.
func (p *partition) recallRecent(ctx context.Context, items []*pendingAppend) error {
	p.mu.Lock()
	unread := p.unread
	due := len(unread) > 0 && !olderThan(p.loadedAt, p.e.opts.ProducerRetryHorizon)
	if !due {
		p.unread = nil
	}
	needed := false
	for _, it := range items {
		h := it.header
		if _, known := p.producers[h.ProducerID]; due && h.idempotent() && h.BaseSequence == 0 && !known {
			needed = true
			break
		}
	}
	p.mu.Unlock()
	if !needed {
		return nil
	}

	// Oldest first, a few objects in memory at a time.
	older := make(producerTable)
	for len(unread) > 0 {
		chunk := unread[:min(parallelReads, len(unread))]
		unread = unread[len(chunk):]
		objects, err := p.e.readObjects(ctx, chunk)
		if err != nil {
			return fmt.Errorf("recall recent producers: %w", err)
		}
		for i, data := range objects {
			if data == nil {
				continue // removed by retention or DeleteRecords meanwhile
			}
			if err := older.recordObject(data); err != nil {
				return fmt.Errorf("recall recent producers: %s: %w", chunk[i].key, err)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, st := range older {
		if _, rebuilt := p.recalled[pid]; rebuilt {
			continue // recall read these objects for it already
		}
		p.producers.mergeOlder(pid, st)
	}
	p.unread = nil
	return nil
}
