// Package memory is an in-process objectstore.Bucket. It is siesta's default
// storage (memory://): nothing to set up, and nothing survives the process.
package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

type object struct {
	data     []byte
	etag     string
	modified time.Time
}

// Bucket keeps objects in a map, with a sorted key slice for listings.
// It is safe for concurrent use.
type Bucket struct {
	mu      sync.RWMutex
	objects map[string]object
	keys    []string // sorted
	version uint64
}

var _ objectstore.Bucket = (*Bucket)(nil)

// New returns an empty bucket.
func New() *Bucket {
	return &Bucket{objects: make(map[string]object)}
}

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.Object{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	o, ok := b.objects[key]
	if !ok {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, objectstore.ErrNotFound)
	}
	// A copy, so that a caller changing the result cannot change the object.
	// Stored slices are never written again (a put stores a new copy), so
	// readers can share them.
	return objectstore.Object{Data: o.data, ETag: o.etag}, nil
}

// GetRange implements objectstore.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	o, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, objectstore.ErrNotFound)
	}
	size := int64(len(o.data))
	if offset >= size {
		return []byte{}, nil
	}
	end := size
	if length >= 0 && length < size-offset { // not offset+length, which may overflow
		end = offset + length
	}
	return o.data[offset:end:end], nil
}

// PutIfAbsent implements objectstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; ok {
		return "", fmt.Errorf("put %s: %w", key, objectstore.ErrPreconditionFailed)
	}
	i := sort.SearchStrings(b.keys, key)
	b.keys = append(b.keys, "")
	copy(b.keys[i+1:], b.keys[i:])
	b.keys[i] = key
	return b.store(key, data), nil
}

// PutIfMatch implements objectstore.Bucket.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok || o.etag != etag {
		return "", fmt.Errorf("put %s: %w", key, objectstore.ErrPreconditionFailed)
	}
	return b.store(key, data), nil
}

// store copies data so that callers may reuse their buffers. b.mu is held.
func (b *Bucket) store(key string, data []byte) string {
	b.version++
	etag := strconv.FormatUint(b.version, 10)
	b.objects[key] = object{data: append([]byte(nil), data...), etag: etag, modified: time.Now()}
	return etag
}

// List implements objectstore.Bucket.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	from := prefix
	if startAfter >= from {
		from = startAfter + "\x00"
	}
	var out []objectstore.ObjectInfo
	for i := sort.SearchStrings(b.keys, from); i < len(b.keys) && len(out) < limit; i++ {
		k := b.keys[i]
		if !strings.HasPrefix(k, prefix) {
			break
		}
		o := b.objects[k]
		out = append(out, objectstore.ObjectInfo{Key: k, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.modified})
	}
	return out, nil
}

// Delete implements objectstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; !ok {
		return nil
	}
	delete(b.objects, key)
	i := sort.SearchStrings(b.keys, key)
	b.keys = append(b.keys[:i], b.keys[i+1:]...)
	return nil
}

// Close implements objectstore.Bucket.
func (b *Bucket) Close() error { return nil }
