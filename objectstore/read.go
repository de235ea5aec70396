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
	// cursor is the next offset to return: objects are looked up a few at
	// a time, from the index or below it (see segmentsFrom).
	cursor := offset
	objectsRead, bytesRead := 0, 0
	for cursor < res.HighWatermark && (size == 0 || size < maxBytes) {
		segs, err := p.segmentsFrom(ctx, cursor, readChunk)
		if err != nil {
			res.Records = records()
			return res, fmt.Errorf("read offset %d: %w", cursor, err)
		}
		if len(segs) == 0 {
			if size > 0 {
				break
			}
			return res, p.deletedUnder(ctx, offset)
		}
		before := cursor
		full := false
		for len(segs) > 0 && !full {
			// The first object alone (a consumer at the tail needs no
			// more); after it, as many as the objects read so far say
			// will fill maxBytes, up to parallelReads at once: a consumer
			// catching up reads many objects, and one GET at a time would
			// make it wait a round trip to the bucket for each.
			n := 1
			if size > 0 && objectsRead > 0 {
				avg := max(1, bytesRead/objectsRead)
				n = min(len(segs), parallelReads, max(1, (maxBytes-size+avg-1)/avg))
			}
			window := segs[:n]
			segs = segs[n:]
			if size > 0 && size >= maxBytes {
				full = true
				break
			}
			objects, errs := e.readEach(ctx, window)
			for i, seg := range window {
				data, err := objects[i], errs[i]
				objectsRead++
				bytesRead += len(data)
				if errors.Is(err, ErrNotFound) {
					// Deleted under us by DeleteRecords on some broker.
					if size > 0 {
						full = true
						break
					}
					return res, p.deletedUnder(ctx, offset)
				}
				if err != nil {
					res.Records = records()
					return res, fmt.Errorf("read %s: %w", seg.key, err)
				}
				// eachBatch walks the object without gaps, so the batches
				// taken from it are the contiguous range data[start:stop].
				pos, start, stop := 0, -1, -1
				berr := eachBatch(data, func(h batchHeader, raw []byte) bool {
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
				if berr != nil {
					res.Records = records()
					return res, fmt.Errorf("read %s: %w", seg.key, berr)
				}
				if full || (size > 0 && size >= maxBytes) {
					full = true
					break
				}
			}
		}
		if full || cursor == before {
			break
		}
	}
	// Objects appended since the high watermark was taken may have been
	// read: the answer's high watermark covers them.
	p.mu.Lock()
	res.HighWatermark = max(res.HighWatermark, p.next)
	p.mu.Unlock()
	res.Records = records()
	return res, nil
}

// readChunk is how many objects Read looks up at a time.
const readChunk = 64

// deletedUnder is the error for a read at offset whose object is gone:
// DeleteRecords or retention moved the log start past it, perhaps on
// another broker.
func (p *partition) deletedUnder(ctx context.Context, offset int64) error {
	if err := p.reloadLogStart(ctx); err != nil {
		return err
	}
	return fmt.Errorf("offset %d was deleted: %w", offset, ErrOffsetOutOfRange)
}
