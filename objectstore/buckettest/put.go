package buckettest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

func testPutIfAbsent(t *testing.T, f *fixture) {
	key := f.key("obj")
	etag := f.create(t, key, []byte("first"))
	f.wantObject(t, key, []byte("first"), etag)

	objs, err := f.b.List(t.Context(), key, "", 10)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(objs) != 1 {
		t.Fatalf("List = %+v, want one object", objs)
	}
	if o := objs[0]; o.Key != key || o.Size != 5 || o.ETag != etag || o.LastModified.IsZero() {
		t.Errorf("List = %+v, want key %q, size 5, etag %q and a modification time", o, key, etag)
	}

	// A second create loses whatever it carries, and changes nothing.
	for _, data := range []string{"second", "first", ""} {
		if got, err := f.b.PutIfAbsent(t.Context(), key, []byte(data)); !errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfAbsent(%q) over an existing object = %q, %v; want ErrPreconditionFailed", data, got, err)
		}
	}
	f.wantObject(t, key, []byte("first"), etag)

	// Also after the object has been replaced.
	etag, err = f.b.PutIfMatch(t.Context(), key, []byte("replaced"), etag)
	if err != nil {
		t.Fatalf("PutIfMatch: %v", err)
	}
	if _, err := f.b.PutIfAbsent(t.Context(), key, []byte("again")); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Errorf("PutIfAbsent over a replaced object: %v, want ErrPreconditionFailed", err)
	}
	f.wantObject(t, key, []byte("replaced"), etag)
}

func testPutIfMatch(t *testing.T, f *fixture) {
	t.Run("current etag", func(t *testing.T) {
		key := f.key("current")
		etag := f.create(t, key, []byte("v1"))
		for _, data := range []string{"v2", "v3", "v4"} {
			next, err := f.b.PutIfMatch(t.Context(), key, []byte(data), etag)
			if err != nil {
				t.Fatalf("PutIfMatch(%q): %v", data, err)
			}
			if next == "" || next == etag {
				t.Fatalf("PutIfMatch(%q) etag = %q after %q, want a new non-empty etag", data, next, etag)
			}
			etag = next
			f.wantObject(t, key, []byte(data), etag)
		}
	})

	// Each case replaces "stale" by "current", then tries to overwrite
	// "current" with a wrong etag.
	tests := []struct {
		name  string
		wrong func(t *testing.T, stale string) string
	}{
		{"stale etag", func(t *testing.T, stale string) string { return stale }},
		{"empty etag", func(t *testing.T, stale string) string { return "" }},
		{"made-up etag", func(t *testing.T, stale string) string { return `"not-an-etag"` }},
		{"other key's etag", func(t *testing.T, stale string) string {
			return f.create(t, f.key("other"), []byte("other"))
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := f.key(fmt.Sprintf("wrong-%d", i))
			stale := f.create(t, key, []byte("stale"))
			etag, err := f.b.PutIfMatch(t.Context(), key, []byte("current"), stale)
			if err != nil {
				t.Fatalf("PutIfMatch: %v", err)
			}
			wrong := tt.wrong(t, stale)
			if got, err := f.b.PutIfMatch(t.Context(), key, []byte("lost"), wrong); !errors.Is(err, objectstore.ErrPreconditionFailed) {
				t.Errorf("PutIfMatch(etag %q) = %q, %v; want ErrPreconditionFailed", wrong, got, err)
			}
			f.wantObject(t, key, []byte("current"), etag)
		})
	}

	// A write conditional on a missing object must not create it.
	t.Run("missing key", func(t *testing.T) {
		key := f.key("missing")
		other := f.create(t, f.key("missing-other"), []byte("other"))
		for _, etag := range []string{"", "1", other} {
			if got, err := f.b.PutIfMatch(t.Context(), key, []byte("data"), etag); !errors.Is(err, objectstore.ErrPreconditionFailed) {
				t.Errorf("PutIfMatch(etag %q) on a missing key = %q, %v; want ErrPreconditionFailed", etag, got, err)
			}
		}
		f.wantMissing(t, key)
	})
	t.Run("deleted key", func(t *testing.T) {
		key := f.key("deleted")
		etag := f.create(t, key, []byte("v1"))
		if err := f.b.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := f.b.PutIfMatch(t.Context(), key, []byte("v2"), etag); !errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfMatch on a deleted key: %v, want ErrPreconditionFailed", err)
		}
		f.wantMissing(t, key)
	})
	// Content differs between the two lives: S3 etags hash the content,
	// so identical content may legitimately get the old etag back.
	t.Run("recreated key", func(t *testing.T) {
		key := f.key("recreated")
		old := f.create(t, key, []byte("first life"))
		if err := f.b.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		etag := f.create(t, key, []byte("second life"))
		if _, err := f.b.PutIfMatch(t.Context(), key, []byte("lost"), old); !errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfMatch with the first life's etag: %v, want ErrPreconditionFailed", err)
		}
		f.wantObject(t, key, []byte("second life"), etag)
	})
}

func testDelete(t *testing.T, f *fixture) {
	if err := f.b.Delete(t.Context(), f.key("never")); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}

	// Neighbours share the deleted key as a prefix; they must survive.
	key := f.key("a")
	f.create(t, key, []byte("doomed"))
	for _, name := range []string{"a/b", "ab", "a.b"} {
		f.create(t, f.key(name), []byte(name))
	}
	for i := range 2 {
		if err := f.b.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
		f.wantMissing(t, key)
		if _, err := f.b.GetRange(t.Context(), key, 0, -1); !errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("GetRange after Delete: %v, want ErrNotFound", err)
		}
		want := []string{f.key("a.b"), f.key("a/b"), f.key("ab")}
		if got := f.list(t, f.prefix, "", 10); !slices.Equal(got, want) {
			t.Errorf("List after Delete = %q, want %q", got, want)
		}
	}

	etag := f.create(t, key, []byte("reborn"))
	f.wantObject(t, key, []byte("reborn"), etag)
}
