package objectstore

import "context"

// tailLock serialises what moves a partition's tail: loading it, catching
// up with other brokers' objects, writing new ones. Unlike a sync.Mutex,
// a request waiting for it gives up when its context ends: a load or a
// write held up by a failing store must not keep a client's fetch or
// ListOffsets waiting past the client's own patience.
type tailLock chan struct{}

func newTailLock() tailLock { return make(tailLock, 1) }

// lock takes the lock, or returns ctx's error if ctx ends first.
func (l tailLock) lock(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tryLock takes the lock if it is free.
func (l tailLock) tryLock() bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l tailLock) unlock() { <-l }
