package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// contendedAppendLimit bounds how long a flush keeps losing the race for
// the tail to other brokers before failing its appends (retriably).
const contendedAppendLimit = 10 * time.Second

// DefaultMaxMessageBytes is the largest record batch, in bytes, a topic
// accepts unless its max.message.bytes config says otherwise: Kafka's
// broker default message.max.bytes.
const DefaultMaxMessageBytes = 1048588

// pendingAppend is one produce request's batch waiting to be written.
type pendingAppend struct {
	batch         []byte
	header        batchHeader
	logAppendTime int64 // -1 unless the topic stamps batches (setLogAppendTime)
	done          chan struct{}
	result        AppendResult
	err           error
}

// AppendResult says where an appended batch went.
type AppendResult struct {
	BaseOffset     int64
	LogStartOffset int64
	// Duplicate is true when an idempotent producer's retry was recognised
	// and answered with the offset its first attempt got.
	Duplicate bool
	// LogAppendTime is the time (Unix milliseconds) the broker stamped
	// the batch with, in a topic with message.timestamp.type
	// LogAppendTime; -1 elsewhere.
	LogAppendTime int64
}

// Append validates one produced record batch and appends it to the
// partition: Enqueue, then Wait. The batch is durable in the bucket when
// Append returns without error.
func (e *Engine) Append(ctx context.Context, t Topic, partition int32, batch []byte) (AppendResult, error) {
	pending, err := e.Enqueue(ctx, t, partition, batch)
	if err != nil {
		return AppendResult{}, err
	}
	return pending.Wait(ctx)
}

// PendingAppend is a batch queued on its partition and being written.
type PendingAppend struct {
	pa *pendingAppend
	p  *partition
	t  Topic
}

// Enqueue validates one produced record batch and queues it on the
// partition, behind every batch queued before it, and returns at once.
// A batch larger than the topic's max.message.bytes is refused with
// ErrMessageTooLarge. In a topic whose compression.type names a codec, a
// batch in another one is compressed again in it (recompress.go). In a
// topic with message.timestamp.type LogAppendTime
// the batch is stamped with the current time (setLogAppendTime). Batches
// that queue while a write is in flight, or
// within the linger window, are written together as one object. The batch
// must not be modified until Wait returns.
func (e *Engine) Enqueue(ctx context.Context, t Topic, partition int32, batch []byte) (*PendingAppend, error) {
	h, err := validateProducedBatch(batch)
	if err != nil {
		return nil, err
	}
	// Kafka compares the whole batch, base offset and length included,
	// and validateProducedBatch made sure batch is exactly one; as sent,
	// and again as stored when the broker compressed it anew.
	limit := configInt(t.Configs, "max.message.bytes", DefaultMaxMessageBytes)
	if int64(len(batch)) > limit {
		return nil, fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrMessageTooLarge, len(batch), limit)
	}
	if codec, ok := storedCodec(t.Configs); ok && int(h.Attributes&attrCompressionMask) != codec {
		if batch, h, err = e.recompress(ctx, batch, h, codec, limit); err != nil {
			return nil, err
		}
	}
	p, err := e.partition(t, partition)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	logAppendTime := int64(-1)
	if t.Configs["message.timestamp.type"] == "LogAppendTime" {
		logAppendTime = max(time.Now().UnixMilli(), p.lastAppendTime)
		p.lastAppendTime = logAppendTime
		setLogAppendTime(batch, &h, logAppendTime)
	}
	pa := &pendingAppend{batch: batch, header: h, logAppendTime: logAppendTime, done: make(chan struct{})}
	p.queue = append(p.queue, pa)
	lead := !p.flushing
	p.flushing = true
	p.mu.Unlock()
	if lead {
		// The writer works on a context detached from this request, so
		// that a client going away does not fail the others' writes.
		e.background.Go(func() { p.writeQueue(context.WithoutCancel(ctx)) })
	}
	return &PendingAppend{pa: pa, p: p, t: t}, nil
}

// Wait returns where the batch went once it is written, or an error. If ctx
// ends first the write may still happen.
func (w *PendingAppend) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-w.pa.done:
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
	if w.pa.err == nil {
		w.p.maybeSweep(w.t)
	}
	res := w.pa.result
	if !res.Duplicate {
		res.LogAppendTime = w.pa.logAppendTime
	}
	return res, w.pa.err
}

// writeQueue writes everything queued on the partition until the queue is
// empty. One runs per partition at a time (p.flushing).
func (p *partition) writeQueue(ctx context.Context) {
	if p.e.opts.Linger > 0 {
		time.Sleep(p.e.opts.Linger)
	}
	for {
		p.mu.Lock()
		items := p.queue
		p.queue = nil
		if len(items) == 0 {
			p.flushing = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.flush(ctx, items)
	}
}

// flush writes items as one object at the tail, retrying at the new tail
// when another broker wrote there first.
func (p *partition) flush(ctx context.Context, items []*pendingAppend) {
	started := time.Now()
	finish := func(err error) {
		for _, it := range items {
			if it.err == nil && err != nil {
				it.err = err
			}
			if errors.Is(it.err, ErrOutOfOrderSequence) || errors.Is(it.err, ErrInvalidProducerEpoch) {
				// A refused idempotent batch makes the producer bump its
				// epoch and resend what it has as new data: rare, and
				// worth a line when it happens.
				p.e.log.Warn("refusing idempotent batch", "topic_id", p.id.topicID, "partition", p.id.partition, "next_offset", p.next, "err", it.err)
			}
			close(it.done)
		}
	}
	// ctx is the writer's, detached from any request: this waits for
	// the tail as long as it takes.
	if err := p.writeMu.lock(ctx); err != nil {
		finish(err)
		return
	}
	defer p.writeMu.unlock()
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
	if err := p.lookBack(ctx, items); err != nil {
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
			stored, dup, err := tentative.duplicateOf(it.header)
			switch {
			case err != nil:
				it.err = err
				gap = gap || errors.Is(err, ErrOutOfOrderSequence)
				continue
			case dup:
				it.result = AppendResult{BaseOffset: stored.baseOffset, LogStartOffset: logStart, Duplicate: true, LogAppendTime: stored.appendTime}
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
		maxTimestamp := written[0].header.MaxTimestamp
		for _, it := range written[1:] {
			maxTimestamp = max(maxTimestamp, it.header.MaxTimestamp)
		}
		p.mu.Lock()
		for pid, st := range tentative {
			p.producers[pid] = st
		}
		p.segments = append(p.segments, segment{base: base, end: offset, key: key})
		p.trimIndex()
		p.next = offset
		p.refreshed = time.Now()
		entry, full := p.appended(base, offset, maxTimestamp)
		p.mu.Unlock()
		if full {
			p.putTimeEntry(entry)
		}
		p.e.notifyAppended()
		finish(nil)
		return
	}
}
