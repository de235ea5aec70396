package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// segment is one object of a partition: the batches for offsets [base, end).
type segment struct {
	base, end int64
	key       string
}

// partition is the engine's view of one partition log. The bucket is the
// truth; this is a cache of its tail and object index that is refreshed
// whenever a conditional write shows another broker got ahead.
type partition struct {
	e  *Engine
	id partitionID

	// writeMu serialises everything that moves the tail: loading, catching
	// up with other brokers' objects, and writing new ones.
	writeMu sync.Mutex

	mu           sync.Mutex
	loaded       bool
	next         int64 // the high watermark: next offset to assign
	logStart     int64
	logStartETag string
	segments     []segment // ascending, contiguous, covering [logStart-ish, next)
	producers    producerTable
	recalled     map[int64]bool // producers recall looked for (see recall)
	queue        []*pendingAppend
	flushing     bool
	refreshed    time.Time // last time the tail was compared with the bucket
	swept        time.Time // last retention sweep started
}

// contendedAppendLimit bounds how long a flush keeps losing the race for
// the tail to other brokers before failing its appends (retriably).
const contendedAppendLimit = 10 * time.Second

// pendingAppend is one produce request's batch waiting to be written.
type pendingAppend struct {
	batch  []byte
	header batchHeader
	done   chan struct{}
	result AppendResult
	err    error
}

// AppendResult says where an appended batch went.
type AppendResult struct {
	BaseOffset     int64
	LogStartOffset int64
	// Duplicate is true when an idempotent producer's retry was recognised
	// and answered with the offset its first attempt got.
	Duplicate bool
}

func (e *Engine) partition(t Topic, p int32) (*partition, error) {
	if p < 0 || p >= t.Partitions {
		return nil, fmt.Errorf("%s/%d: %w", t.Name, p, ErrUnknownPartition)
	}
	id := partitionID{topicID: t.ID, partition: p}
	e.mu.Lock()
	defer e.mu.Unlock()
	part, ok := e.partitions[id]
	if !ok {
		part = &partition{e: e, id: id, producers: make(producerTable)}
		e.partitions[id] = part
	}
	return part, nil
}

func (p *partition) key(base int64) string { return segmentKey(p.id.topicID, p.id.partition, base) }

// ensureLoaded reads the partition's index from the bucket the first time.
func (p *partition) ensureLoaded(ctx context.Context) error {
	p.mu.Lock()
	loaded := p.loaded
	p.mu.Unlock()
	if loaded {
		return nil
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	loaded = p.loaded
	p.mu.Unlock()
	if loaded {
		return nil
	}
	return p.load(ctx)
}

// load builds the index from a listing, reads the newest object to learn
// where the log ends, and rebuilds producer state from the newest objects.
// p.writeMu is held.
func (p *partition) load(ctx context.Context) error {
	var ls logStartDoc
	etag, err := p.e.readJSON(ctx, logStartKey(p.id.topicID, p.id.partition), &ls)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("load partition: %w", err)
	}
	objs, err := ListAll(ctx, p.e.bucket, partitionPrefix(p.id.topicID, p.id.partition), "")
	if err != nil {
		return fmt.Errorf("load partition: %w", err)
	}
	segs := make([]segment, 0, len(objs))
	for _, o := range objs {
		base, ok := segmentBase(o.Key)
		if !ok {
			continue
		}
		if n := len(segs); n > 0 {
			segs[n-1].end = base
		}
		segs = append(segs, segment{base: base, end: base, key: o.Key})
	}
	producers := make(producerTable)
	next := ls.Offset
	if n := len(segs); n > 0 {
		// The newest objects hold the producer states that matter for
		// retries; read a few, oldest first.
		from := max(0, n-producerWindow)
		for i := from; i < n; i++ {
			data, err := p.e.readObject(ctx, segs[i].key)
			if errors.Is(err, ErrNotFound) && i < n-1 {
				continue // removed by DeleteRecords meanwhile
			}
			if err != nil {
				return fmt.Errorf("load partition: %w", err)
			}
			if err := producers.recordObject(data); err != nil {
				return fmt.Errorf("load partition: %s: %w", segs[i].key, err)
			}
			if i == n-1 {
				end, err := objectEnd(data)
				if err != nil {
					return fmt.Errorf("load partition: %s: %w", segs[i].key, err)
				}
				segs[i].end = end
			}
		}
		next = max(next, segs[n-1].end)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.segments = segs
	p.next = next
	p.logStart = ls.Offset
	p.logStartETag = etag
	p.producers = producers
	p.recalled = nil
	p.loaded = true
	p.refreshed = time.Now()
	p.swept = p.refreshed // the listing above was as good as a sweep's
	return nil
}

// objectEnd returns the offset after the last record of an object.
func objectEnd(data []byte) (int64, error) {
	var end int64 = -1
	err := eachBatch(data, func(h batchHeader, _ []byte) bool {
		end = h.lastOffset() + 1
		return true
	})
	if err == nil && end < 0 {
		err = fmt.Errorf("%w: empty object", ErrCorruptBatch)
	}
	return end, err
}

// readObject returns an object's bytes, from the cache when possible.
func (e *Engine) readObject(ctx context.Context, key string) ([]byte, error) {
	if data, ok := e.cache.get(key); ok {
		return data, nil
	}
	obj, err := e.bucket.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	e.cache.put(key, obj.Data)
	return obj.Data, nil
}

// Append validates one produced record batch and appends it to the
// partition. Appends that arrive while a write is in flight, or within the
// linger window, are written together as one object. The batch is durable
// in the bucket when Append returns without error.
func (e *Engine) Append(ctx context.Context, t Topic, partition int32, batch []byte) (AppendResult, error) {
	h, err := validateProducedBatch(batch)
	if err != nil {
		return AppendResult{}, err
	}
	p, err := e.partition(t, partition)
	if err != nil {
		return AppendResult{}, err
	}
	pa := &pendingAppend{batch: batch, header: h, done: make(chan struct{})}

	p.mu.Lock()
	p.queue = append(p.queue, pa)
	if p.flushing {
		p.mu.Unlock()
		select {
		case <-pa.done:
			return pa.result, pa.err
		case <-ctx.Done():
			return AppendResult{}, ctx.Err()
		}
	}
	p.flushing = true
	p.mu.Unlock()

	// This append leads: it writes everything queued until the queue is
	// empty. It works on a context detached from its own request, so that
	// a client going away does not fail the others' writes.
	flushCtx := context.WithoutCancel(ctx)
	if e.opts.Linger > 0 {
		time.Sleep(e.opts.Linger)
	}
	for {
		p.mu.Lock()
		items := p.queue
		p.queue = nil
		if len(items) == 0 {
			p.flushing = false
			p.mu.Unlock()
			break
		}
		p.mu.Unlock()
		p.flush(flushCtx, items)
	}
	<-pa.done
	if pa.err == nil {
		p.maybeSweep(t)
	}
	return pa.result, pa.err
}

// flush writes items as one object at the tail, retrying at the new tail
// when another broker wrote there first.
func (p *partition) flush(ctx context.Context, items []*pendingAppend) {
	started := time.Now()
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	finish := func(err error) {
		for _, it := range items {
			if it.err == nil && err != nil {
				it.err = err
			}
			close(it.done)
		}
	}
	if !p.loaded {
		if err := p.load(ctx); err != nil {
			finish(err)
			return
		}
	}
	if p.untrusted() {
		// Our tail is old enough that retention could have deleted the
		// object at it: an unconditional look at the bucket first.
		if _, err := p.catchUp(ctx); err != nil {
			finish(err)
			return
		}
	}
	if err := p.recall(ctx, items); err != nil {
		finish(err)
		return
	}
	lookedForGap := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 && time.Since(started) > contendedAppendLimit {
			finish(fmt.Errorf("append: gave up after %d writes lost to other brokers in %s", attempt, contendedAppendLimit))
			return
		}
		if attempt >= 2 {
			// A broker that keeps winning (its queue refills while we
			// read its object) would otherwise starve us: step back a
			// little, more each time, so the race evens out.
			time.Sleep(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
		}
		p.mu.Lock()
		base := p.next
		logStart := p.logStart
		tentative := make(producerTable)
		for _, it := range items {
			if st, ok := p.producers[it.header.ProducerID]; ok && it.header.idempotent() {
				tentative[it.header.ProducerID] = st
			}
		}
		p.mu.Unlock()

		offset := base
		var written []*pendingAppend
		var batches [][]byte
		gap := false
		for _, it := range items {
			it.err = nil
			dupOffset, dup, err := tentative.check(it.header)
			switch {
			case err != nil:
				it.err = err
				gap = gap || errors.Is(err, ErrOutOfOrderSequence)
				continue
			case dup:
				it.result = AppendResult{BaseOffset: dupOffset, LogStartOffset: logStart, Duplicate: true}
				continue
			}
			batches = append(batches, it.batch)
			h := it.header
			h.BaseOffset = offset
			tentative.record(h, offset)
			it.result = AppendResult{BaseOffset: offset, LogStartOffset: logStart}
			offset += int64(it.header.NumRecords)
			written = append(written, it)
		}
		if gap && !lookedForGap {
			// A sequence gap may be a batch that did land although its
			// answer was lost (ours, or another broker's): look at the
			// tail before refusing. Refusing wrongly makes the producer
			// bump its epoch and send the batch again as new data.
			lookedForGap = true
			grew, err := p.catchUp(ctx)
			if err != nil {
				finish(err)
				return
			}
			if grew {
				continue
			}
		}
		if len(written) == 0 {
			finish(nil)
			return
		}
		// One allocation, not zeroed first; the batches' base offsets are
		// set in the copy, so a retry starts again from the requests.
		object := bytes.Join(batches, nil)
		for i, pos := 0, 0; i < len(written); i++ {
			setBaseOffset(object[pos:], written[i].result.BaseOffset)
			pos += len(written[i].batch)
		}
		key := p.key(base)
		_, err := p.e.bucket.PutIfAbsent(ctx, key, object)
		if errors.Is(err, ErrPreconditionFailed) {
			if _, err := p.catchUp(ctx); err != nil {
				finish(err)
				return
			}
			continue
		}
		if err != nil {
			finish(fmt.Errorf("append to %s: %w", key, err))
			return
		}
		p.e.cache.put(key, object)
		p.mu.Lock()
		for pid, st := range tentative {
			p.producers[pid] = st
		}
		p.segments = append(p.segments, segment{base: base, end: offset, key: key})
		p.next = offset
		p.refreshed = time.Now()
		p.mu.Unlock()
		p.e.notifyAppended()
		finish(nil)
		return
	}
}

// recallLimit bounds how many objects recall reads, newest first, to find
// the batches of a producer that the producer table does not know.
const recallLimit = 1000

// recall looks further back in the log for the idempotent producers of
// items that the producer table does not know although their batches do
// not start at sequence 0. load rebuilds producer state from the newest
// objects only, and when several producers share a partition, a producer's
// last batches can be older than those: without recall, its retry of a
// batch written before a broker restart (or on another broker) would be
// appended a second time. Each producer is looked for once per load; one
// not found within recallLimit objects is accepted as unknown, as before.
// p.writeMu is held.
func (p *partition) recall(ctx context.Context, items []*pendingAppend) error {
	p.mu.Lock()
	var missing map[int64][]batchHeader // newest producerWindow batches found, oldest first
	for _, it := range items {
		h := it.header
		if !h.idempotent() || h.BaseSequence == 0 || p.recalled[h.ProducerID] {
			continue
		}
		if _, known := p.producers[h.ProducerID]; known {
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
		p.recalled = make(map[int64]bool)
	}
	for pid, hs := range missing {
		p.recalled[pid] = true
		if _, known := p.producers[pid]; known {
			continue
		}
		for _, h := range hs {
			p.producers.record(h, h.BaseOffset)
		}
	}
	return nil
}

// PartitionOffsets are a partition's bounds.
type PartitionOffsets struct {
	LogStart      int64
	HighWatermark int64
}

// Offsets returns the partition's log start offset and high watermark.
func (e *Engine) Offsets(ctx context.Context, t Topic, partition int32) (PartitionOffsets, error) {
	p, err := e.partition(t, partition)
	if err != nil {
		return PartitionOffsets{}, err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return PartitionOffsets{}, err
	}
	p.maybeRefresh(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	return PartitionOffsets{LogStart: p.logStart, HighWatermark: p.next}, nil
}

// ReadResult is what a fetch of one partition returns.
type ReadResult struct {
	// Records holds whole stored batches; the first may start before the
	// requested offset, as in Kafka, and clients skip the records before it.
	// It may share memory with the engine's cache: callers must not modify
	// it.
	Records []byte
	PartitionOffsets
}

// Read returns batches starting at offset, up to maxBytes (but always at
// least one whole batch if any exists at offset, as KIP-74 requires).
func (e *Engine) Read(ctx context.Context, t Topic, partition int32, offset int64, maxBytes int) (ReadResult, error) {
	p, err := e.partition(t, partition)
	if err != nil {
		return ReadResult{}, err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return ReadResult{}, err
	}
	p.maybeSweep(t)
	p.mu.Lock()
	atTail := offset >= p.next
	p.mu.Unlock()
	if atTail {
		p.maybeRefresh(ctx)
	}
	p.mu.Lock()
	beyond := offset > p.next
	p.mu.Unlock()
	if beyond {
		// The client may have read up to offset on another broker, or
		// committed it there: out of range only if the bucket agrees.
		if err := p.refresh(ctx); err != nil {
			return ReadResult{}, err
		}
	}

	p.mu.Lock()
	res := ReadResult{PartitionOffsets: PartitionOffsets{LogStart: p.logStart, HighWatermark: p.next}}
	if offset < p.logStart || offset > p.next {
		p.mu.Unlock()
		return res, fmt.Errorf("offset %d outside [%d, %d]: %w", offset, res.LogStart, res.HighWatermark, ErrOffsetOutOfRange)
	}
	i := sort.Search(len(p.segments), func(i int) bool { return p.segments[i].end > offset })
	segs := append([]segment(nil), p.segments[i:]...)
	p.mu.Unlock()

	// The batches are gathered as slices of the (immutable) objects and
	// copied once at the end, or not at all when they are one slice.
	var parts [][]byte
	size := 0
	records := func() []byte {
		switch len(parts) {
		case 0:
			return nil
		case 1:
			return parts[0]
		}
		return bytes.Join(parts, nil) // one allocation, not zeroed first
	}
	for _, seg := range segs {
		if size > 0 && size >= maxBytes {
			break
		}
		data, err := e.readObject(ctx, seg.key)
		if errors.Is(err, ErrNotFound) {
			// Deleted under us by DeleteRecords on some broker.
			if size > 0 {
				break
			}
			if err := p.reloadLogStart(ctx); err != nil {
				return res, err
			}
			return res, fmt.Errorf("offset %d was deleted: %w", offset, ErrOffsetOutOfRange)
		}
		if err != nil {
			res.Records = records()
			return res, fmt.Errorf("read %s: %w", seg.key, err)
		}
		// eachBatch walks the object without gaps, so the batches taken
		// from it are the contiguous range data[from:to].
		full := false
		pos, from, to := 0, -1, -1
		err = eachBatch(data, func(h batchHeader, raw []byte) bool {
			start := pos
			pos += len(raw)
			if h.lastOffset() < offset {
				return true
			}
			if size > 0 && size+len(raw) > maxBytes {
				full = true
				return false
			}
			if from < 0 {
				from = start
			}
			to = pos
			size += len(raw)
			return true
		})
		if from >= 0 {
			parts = append(parts, data[from:to])
		}
		if err != nil {
			res.Records = records()
			return res, fmt.Errorf("read %s: %w", seg.key, err)
		}
		if full {
			break
		}
	}
	res.Records = records()
	return res, nil
}
