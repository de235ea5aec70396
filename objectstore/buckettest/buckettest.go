// Package buckettest is the conformance suite for objectstore.Bucket. Every
// backend runs it from its own tests, and a backend is done when Run passes:
//
//	func TestBucket(t *testing.T) {
//		buckettest.Run(t, func(t *testing.T) objectstore.Bucket { return memory.New() })
//	}
package buckettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// Run runs the conformance suite against buckets made by newBucket.
//
// Every subtest calls newBucket once and keeps all of its keys under a
// unique prefix, which it deletes when it ends. So newBucket may return a
// fresh, empty bucket or the same shared bucket (a MinIO bucket, say) every
// time; the suite never lists outside its prefix. newBucket owns the bucket's
// lifetime: register Close with t.Cleanup if the bucket needs it.
//
// Subtests run in parallel, so newBucket must be safe for concurrent calls.
// Run returns when all of them have finished.
func Run(t *testing.T, newBucket func(t *testing.T) objectstore.Bucket) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"GetMissing", testGetMissing},
		{"GetRange", testGetRange},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfMatch", testPutIfMatch},
		{"Delete", testDelete},
		{"ZeroLength", testZeroLength},
		{"Keys", testKeys},
		{"NotAliased", testNotAliased},
		{"ListOrder", testListOrder},
		{"ListPrefix", testListPrefix},
		{"ListStartAfter", testListStartAfter},
		{"ListPaging", testListPaging},
		{"ListEmpty", testListEmpty},
		{"ConcurrentPutIfAbsent", testConcurrentPutIfAbsent},
		{"ConcurrentPutIfMatch", testConcurrentPutIfMatch},
		{"ConcurrentList", testConcurrentList},
		{"CancelledContext", testCancelledContext},
	}
	// The group makes Run wait for the parallel subtests, so a caller may
	// tear down what newBucket uses with defer once Run returns.
	t.Run("conformance", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tt.fn(t, newFixture(t, newBucket))
			})
		}
	})
}

// fixture is one subtest's bucket and the prefix its keys live under.
type fixture struct {
	b      objectstore.Bucket
	prefix string
}

func newFixture(t *testing.T, newBucket func(t *testing.T) objectstore.Bucket) *fixture {
	t.Helper()
	var r [6]byte
	rand.Read(r[:])
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	f := &fixture{b: newBucket(t), prefix: "buckettest/" + name + "-" + hex.EncodeToString(r[:]) + "/"}
	// Registered after newBucket's cleanups, so this runs before Close.
	t.Cleanup(func() {
		ctx := context.Background() // t.Context is already cancelled here.
		objs, err := objectstore.ListAll(ctx, f.b, f.prefix, "")
		if err != nil {
			t.Errorf("clean up %s: %v", f.prefix, err)
			return
		}
		for _, o := range objs {
			if err := f.b.Delete(ctx, o.Key); err != nil {
				t.Errorf("clean up: %v", err)
			}
		}
	})
	return f
}

// key returns name inside the fixture's prefix.
func (f *fixture) key(name string) string { return f.prefix + name }

// create stores a new object and returns its etag, failing the test if it cannot.
func (f *fixture) create(t *testing.T, key string, data []byte) string {
	t.Helper()
	etag, err := f.b.PutIfAbsent(t.Context(), key, data)
	if err != nil {
		t.Fatalf("PutIfAbsent(%q): %v", key, err)
	}
	if etag == "" {
		t.Fatalf("PutIfAbsent(%q) returned an empty etag", key)
	}
	return etag
}

// wantObject checks that key holds data with the given etag.
func (f *fixture) wantObject(t *testing.T, key string, data []byte, etag string) {
	t.Helper()
	obj, err := f.b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(obj.Data) != string(data) {
		t.Errorf("Get(%q) data = %q, want %q", key, obj.Data, data)
	}
	if obj.ETag != etag {
		t.Errorf("Get(%q) etag = %q, want %q", key, obj.ETag, etag)
	}
}

// wantMissing checks that Get reports ErrNotFound for key.
func (f *fixture) wantMissing(t *testing.T, key string) {
	t.Helper()
	if obj, err := f.b.Get(t.Context(), key); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want ErrNotFound", key, obj.Data, err)
	}
}

// list returns every key under prefix after startAfter, paging with limit.
func (f *fixture) list(t *testing.T, prefix, startAfter string, limit int) []string {
	t.Helper()
	var keys []string
	for {
		objs, err := f.b.List(t.Context(), prefix, startAfter, limit)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", prefix, startAfter, limit, err)
		}
		if len(objs) > limit {
			t.Fatalf("List(%q, %q, %d) returned %d objects", prefix, startAfter, limit, len(objs))
		}
		for _, o := range objs {
			// Checked here, or a listing that repeats startAfter never ends.
			if o.Key <= startAfter || !strings.HasPrefix(o.Key, prefix) {
				t.Fatalf("List(%q, %q, %d) returned %q", prefix, startAfter, limit, o.Key)
			}
			keys = append(keys, o.Key)
			startAfter = o.Key
		}
		if len(objs) < limit {
			return keys
		}
	}
}
