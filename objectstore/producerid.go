package objectstore

import (
	"context"
	"errors"
	"fmt"
	"time"
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
		e.given(id)
		e.mu.Unlock()
		return id, nil
	}
	ahead := e.pidsRead
	e.pidsRead = nil
	e.mu.Unlock()
	for {
		var doc producerIDDoc
		var etag string
		var err error
		used := false
		if ahead != nil && ahead.fresh() {
			select {
			case <-ahead.done:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			// A read ahead that failed is only a lost head start.
			if ahead.err == nil || errors.Is(ahead.err, ErrNotFound) {
				doc, etag, err, used = ahead.doc, ahead.etag, ahead.err, true
			}
		}
		if !used {
			etag, err = e.readJSON(ctx, producerIDKey, &doc)
		}
		ahead = nil // a claim that fails rereads
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
		e.given(start)
		e.mu.Unlock()
		return start, nil
	}
}

// producerIDRead is the producer-id document read ahead of a claim.
type producerIDRead struct {
	started time.Time
	done    chan struct{}
	doc     producerIDDoc
	etag    string
	err     error
}

// producerIDReadAhead is how long a document read ahead is used for a
// claim: an older one is likely stale, and its claim would fail.
const producerIDReadAhead = 10 * time.Second

func (r *producerIDRead) fresh() bool { return !olderThan(r.started, producerIDReadAhead) }

// WarmProducerIDs reads the producer-id document in the background if this
// broker has no ids left to hand out, so that the claim of the next block
// (an idempotent producer's InitProducerID, right after its Metadata
// request) is one write instead of a read and a write. A broker woken by a
// producer answers it a round trip to the bucket sooner.
func (e *Engine) WarmProducerIDs() {
	e.mu.Lock()
	defer e.mu.Unlock()
	// One read ahead until a claim uses it (or finds it stale and reads
	// again): a broker that only serves consumers reads the document once,
	// not at each of their metadata refreshes.
	if e.pids.next < e.pids.end || e.pidsRead != nil {
		return
	}
	r := &producerIDRead{started: time.Now(), done: make(chan struct{})}
	e.pidsRead = r
	e.background.Go(func() {
		defer close(r.done)
		ctx, cancel := context.WithTimeout(context.Background(), producerIDReadAhead)
		defer cancel()
		r.etag, r.err = e.readJSON(ctx, producerIDKey, &r.doc)
	})
}

// given notes when id was handed out, and forgets the ids handed out
// longer than ProducerRetryHorizon ago, or beyond the newest maxGivenIDs:
// forgetting one only costs its producer's first batch a look-back.
// Ids are noted in the order they are handed out, so the oldest go first.
// e.mu is held.
func (e *Engine) given(id int64) {
	now := time.Now()
	if e.pidsGiven == nil {
		e.pidsGiven = make(map[int64]time.Time)
	}
	for len(e.pidsOrder) > 0 && (len(e.pidsOrder) >= maxGivenIDs || now.Sub(e.pidsOrder[0].at) > e.opts.ProducerRetryHorizon) {
		delete(e.pidsGiven, e.pidsOrder[0].id)
		e.pidsOrder = e.pidsOrder[1:]
	}
	e.pidsGiven[id] = now
	e.pidsOrder = append(e.pidsOrder, givenID{id, now})
}

// maxGivenIDs bounds the producer ids a broker remembers handing out.
const maxGivenIDs = 1 << 14

// givenID is a producer id and when it was handed out.
type givenID struct {
	id int64
	at time.Time
}

// issuedAfter reports whether this broker handed out producer id after t.
// Ids are handed out once, by the broker that claimed their block, so no
// batch of such a producer can be in an object listed before t. It takes
// e.mu; a caller may hold a partition's mu (never the other way round).
func (e *Engine) issuedAfter(id int64, t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.pidsGiven[id]
	return ok && at.After(t)
}
