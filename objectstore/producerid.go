package objectstore

import (
	"context"
	"errors"
	"fmt"
)

// producerIDBlockSize is how many producer ids a broker claims from the
// bucket at once, so that InitProducerId rarely costs a write.
const producerIDBlockSize = 100

type producerIDBlock struct {
	next, end int64
}

type producerIDDoc struct {
	Next int64 `json:"next"`
	// Claim makes every write's content unique. Brokers claiming the same
	// block from the same version would otherwise write identical bytes,
	// and a store client that retried its write and found "its" bytes at
	// the key (objectstore/s3 does, to see through lost answers) would
	// take the other broker's claim for its own: two brokers, one block.
	Claim string `json:"claim,omitempty"`
}

// NextProducerID allocates a producer id that no broker sharing the bucket
// has handed out or will hand out.
func (e *Engine) NextProducerID(ctx context.Context) (int64, error) {
	e.mu.Lock()
	if e.pids.next < e.pids.end {
		id := e.pids.next
		e.pids.next++
		e.mu.Unlock()
		return id, nil
	}
	e.mu.Unlock()
	for {
		var doc producerIDDoc
		etag, err := e.readJSON(ctx, producerIDKey, &doc)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		start := doc.Next
		doc.Next += producerIDBlockSize
		doc.Claim = randomHex(8)
		_, err = e.writeJSON(ctx, producerIDKey, etag, doc)
		if errors.Is(err, ErrPreconditionFailed) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		e.mu.Lock()
		e.pids = producerIDBlock{next: start + 1, end: start + producerIDBlockSize}
		e.mu.Unlock()
		return start, nil
	}
}
