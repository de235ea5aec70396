// Package objectstore is siesta's log engine. It keeps topics, partition logs,
// consumer-group state and producer ids in a Bucket: a small object-store
// interface with conditional writes, implemented for memory, S3 and SQLite.
// The engine keeps no state that it cannot rebuild from the bucket, so any
// number of brokers can share one bucket and coordinate through it alone.
package objectstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by a Bucket when the object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrPreconditionFailed is returned by a Bucket when a conditional write
// loses: the key already exists (PutIfAbsent) or its etag changed (PutIfMatch).
var ErrPreconditionFailed = errors.New("precondition failed")

// Object is the content of one stored object and the etag that identifies
// this version of it.
type Object struct {
	Data []byte
	ETag string
}

// ObjectInfo describes an object in a listing.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
}

// Bucket is the storage the log engine is written over. Every implementation
// gives the same guarantees: strong read-after-write consistency for single
// keys, and conditional writes that are atomic with respect to each other
// across processes sharing the same storage.
//
// Callers never store a key that is a "directory" of another ("a" and
// "a/b"): MinIO cannot list both, so the engine's key layout avoids it.
type Bucket interface {
	// Get returns the whole object, or ErrNotFound. The returned data may
	// be shared with other readers (the memory bucket hands out its own
	// copy): callers must not modify it. Puts never change data already
	// returned.
	Get(ctx context.Context, key string) (Object, error)

	// GetRange returns length bytes of the object starting at offset,
	// fewer if the object ends first, or ErrNotFound. A length < 0 reads
	// to the end. As with Get, callers must not modify the result.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)

	// PutIfAbsent creates the object only if no object exists at key
	// (S3's If-None-Match: *). It returns the new etag, or
	// ErrPreconditionFailed if the key exists.
	PutIfAbsent(ctx context.Context, key string, data []byte) (etag string, err error)

	// PutIfMatch replaces the object only if its current etag is etag
	// (S3's If-Match). It returns the new etag, or ErrPreconditionFailed
	// if the object changed or no longer exists. Etags may be content
	// hashes (S3's are), so callers must never write a content an object
	// had before: documents updated this way carry a revision counter.
	PutIfMatch(ctx context.Context, key string, data []byte, etag string) (newETag string, err error)

	// List returns up to limit objects whose keys start with prefix and
	// sort strictly after startAfter, in ascending key order. A limit <= 0
	// means the implementation's page size (at least 100). Fewer than limit
	// results mean the listing is complete.
	List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error)

	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error

	// Close releases the bucket's resources.
	Close() error
}

// ListAll pages through List until the listing is complete.
func ListAll(ctx context.Context, b Bucket, prefix, startAfter string) ([]ObjectInfo, error) {
	return listWhile(ctx, b, prefix, startAfter, listPage, nil)
}

// listWhile pages through List, page objects at a time, until the listing
// is complete or, when more is not nil, until a page whose last object
// more refuses.
func listWhile(ctx context.Context, b Bucket, prefix, startAfter string, page int, more func(ObjectInfo) bool) ([]ObjectInfo, error) {
	var all []ObjectInfo
	for {
		objs, err := b.List(ctx, prefix, startAfter, page)
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
		if len(objs) < page || (more != nil && !more(objs[len(objs)-1])) {
			return all, nil
		}
		startAfter = objs[len(objs)-1].Key
	}
}
