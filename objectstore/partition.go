package objectstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/siestamq/siesta/internal/bounded"
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
	writeMu tailLock

	mu     sync.Mutex
	loaded bool
	// lastAppendTime is the last LogAppendTime this broker stamped a
	// batch of the partition with: stamps never go back, as in Kafka.
	lastAppendTime int64
	next           int64 // the high watermark: next offset to assign
	logStart       int64
	logStartETag   string
	segments       []segment   // the index: ascending, contiguous, ending at next (see index.go)
	located        [][]segment // runs of objects below the index that locate found, most recently used first
	producers      producerTable
	loadedAt       time.Time
	skipped        []skippedObject // objects load did not read for producer state, newest recallLimit, ascending (see lookBack)
	skippedRead    int             // how many of skipped, newest first, lookBack has read
	appendRun      timeRunner      // this broker's latest appends, not yet a time index entry
	warming        bool            // a load started by Warm is in flight
	queue          []*pendingAppend
	flushing       bool
	refreshed      time.Time // last time the tail was compared with the bucket
	swept          time.Time // last retention sweep started
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
		part = &partition{e: e, id: id, producers: make(producerTable), writeMu: newTailLock()}
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
	if err := p.writeMu.lock(ctx); err != nil {
		return fmt.Errorf("load partition: %w", err)
	}
	defer p.writeMu.unlock()
	p.mu.Lock()
	loaded = p.loaded
	p.mu.Unlock()
	if loaded {
		return nil
	}
	return p.load(ctx)
}

// load indexes the partition's newest objects (see listNewest), reads the
// newest one to learn where the log ends, and rebuilds producer state from
// the newest few.
// p.writeMu is held.
func (p *partition) load(ctx context.Context) error {
	// The log start and the listing are independent: ask for both at
	// once, one round trip to the bucket instead of two (a woken broker's
	// first produce or fetch waits for them).
	var (
		ls       logStartDoc
		etag     string
		lsErr    error
		lsLoaded = make(chan struct{})
	)
	go func() {
		defer close(lsLoaded)
		etag, lsErr = p.e.readJSON(ctx, logStartKey(p.id.topicID, p.id.partition), &ls)
	}()
	objs, err := p.listNewest(ctx)
	loadedAt := time.Now() // the listing is complete: see issuedAfter
	<-lsLoaded
	if lsErr != nil && !errors.Is(lsErr, ErrNotFound) {
		return fmt.Errorf("load partition: %w", lsErr)
	}
	if err != nil {
		return fmt.Errorf("load partition: %w", err)
	}
	segs := segmentsOf(objs) // objs are all segment keys: segs[i] is objs[i]
	producers := make(producerTable)
	next := ls.Offset
	var skipped []skippedObject
	if n := len(segs); n > 0 {
		// The newest objects hold the producer states that matter for
		// retries; read a few at once, and record them oldest first.
		from := max(0, n-producerWindow)
		for i := max(0, from-recallLimit); i < from; i++ {
			skipped = append(skipped, skippedObject{segs[i], objs[i].LastModified})
		}
		newest, err := p.e.readObjects(ctx, segs[from:])
		if err != nil {
			return fmt.Errorf("load partition: %w", err)
		}
		for i := from; i < n; i++ {
			data := newest[i-from]
			if data == nil {
				if i < n-1 {
					continue // removed by DeleteRecords meanwhile
				}
				return fmt.Errorf("load partition: %s: %w", segs[i].key, ErrNotFound)
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
	p.located = nil
	p.next = next
	p.logStart = ls.Offset
	p.logStartETag = etag
	p.producers = producers
	p.loadedAt = loadedAt
	p.skipped, p.skippedRead = skipped, 0
	p.loaded = true
	p.refreshed = time.Now()
	p.swept = p.refreshed // the first sweep comes a SweepInterval after waking, not with it
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

// parallelReads bounds the GETs readObjects makes at once.
const parallelReads = 16

// readObjects reads the objects of segs, parallelReads at a time;
// an object that is gone reads as nil.
func (e *Engine) readObjects(ctx context.Context, segs []segment) ([][]byte, error) {
	objects, errs := e.readEach(ctx, segs)
	for i := range errs {
		if errors.Is(errs[i], ErrNotFound) {
			errs[i] = nil
		}
	}
	return objects, errors.Join(errs...)
}

// readEach reads the objects of segs, parallelReads at a time, and returns
// each one's bytes or error.
func (e *Engine) readEach(ctx context.Context, segs []segment) ([][]byte, []error) {
	objects := make([][]byte, len(segs))
	errs := make([]error, len(segs))
	bounded.Run(len(segs), parallelReads, func(i int) {
		objects[i], errs[i] = e.readObject(ctx, segs[i].key)
	})
	return objects, errs
}
