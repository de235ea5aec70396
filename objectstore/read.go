package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

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

// FreshOffsets is Offsets after looking at the bucket now (two GETs), so
// that it includes every append and DeleteRecords another broker finished
// before the call. ListOffsets uses it: a client asking for the end of a
// partition on one broker must see what it just produced through another.
func (e *Engine) FreshOffsets(ctx context.Context, t Topic, partition int32) (PartitionOffsets, error) {
	p, err := e.partition(t, partition)
	if err != nil {
		return PartitionOffsets{}, err
	}
	if err := p.ensureLoaded(ctx); err != nil {
		return PartitionOffsets{}, err
	}
	if err := p.refresh(ctx); err != nil {
		return PartitionOffsets{}, err
	}
	if err := p.reloadLogStart(ctx); err != nil {
		return PartitionOffsets{}, err
	}
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
	// cursor is the next offset to return.
	cursor := offset
	objectsRead, bytesRead := 0, 0
	// Read ahead as many objects as the ones read so far say will fill
	// maxBytes, so that a fetch holds about maxBytes in memory.
	ahead := func() int {
		avg := max(1, bytesRead/max(1, objectsRead))
		return (maxBytes - size + avg - 1) / avg
	}
	err = p.walkObjects(ctx, offset, res.HighWatermark, ahead, func(data []byte) (int64, bool, error) {
		objectsRead++
		bytesRead += len(data)
		// eachBatch walks the object without gaps, so the batches taken
		// from it are the contiguous range data[start:stop].
		full := false
		pos, start, stop := 0, -1, -1
		err := eachBatch(data, func(h batchHeader, raw []byte) bool {
			begin := pos
			pos += len(raw)
			if h.lastOffset() < cursor {
				return true
			}
			if size > 0 && size+len(raw) > maxBytes {
				full = true
				return false
			}
			if start < 0 {
				start = begin
			}
			stop = pos
			size += len(raw)
			cursor = h.lastOffset() + 1
			return true
		})
		if start >= 0 {
			parts = append(parts, data[start:stop])
		}
		return cursor, !full && (size == 0 || size < maxBytes), err
	})
	switch {
	case errors.Is(err, errObjectGone) && size == 0:
		return res, p.deletedUnder(ctx, offset)
	case errors.Is(err, errObjectGone):
		// Deleted under us after the first batches: return those.
	case err != nil:
		res.Records = records()
		return res, err
	}
	// Objects appended since the high watermark was taken may have been
	// read: the answer's high watermark covers them.
	p.mu.Lock()
	res.HighWatermark = max(res.HighWatermark, p.next)
	p.mu.Unlock()
	res.Records = records()
	return res, nil
}

// deletedUnder is the error for a read at offset whose object is gone:
// DeleteRecords or retention moved the log start past it, perhaps on
// another broker.
func (p *partition) deletedUnder(ctx context.Context, offset int64) error {
	if err := p.reloadLogStart(ctx); err != nil {
		return err
	}
	return fmt.Errorf("offset %d was deleted: %w", offset, ErrOffsetOutOfRange)
}
