package buckettest

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// testGetMissing checks that reads of absent keys report ErrNotFound, also
// for keys that are a prefix of, or extend, keys that do exist.
func testGetMissing(t *testing.T, f *fixture) {
	f.create(t, f.key("obj"), []byte("data"))
	f.create(t, f.key("dir/obj"), []byte("data"))
	ranges := []struct{ offset, length int64 }{{0, -1}, {0, 10}, {100, 5}}
	for _, name := range []string{"never", "ob", "obj2", "obj/", "dir", "dir/"} {
		t.Run(name, func(t *testing.T) {
			key := f.key(name)
			f.wantMissing(t, key)
			for _, r := range ranges {
				if data, err := f.b.GetRange(t.Context(), key, r.offset, r.length); !errors.Is(err, objectstore.ErrNotFound) {
					t.Errorf("GetRange(%q, %d, %d) = %q, %v; want ErrNotFound", key, r.offset, r.length, data, err)
				}
			}
		})
	}
}

func testGetRange(t *testing.T, f *fixture) {
	key := f.key("digits")
	f.create(t, key, []byte("0123456789"))
	tests := []struct {
		name           string
		offset, length int64
		want           string
	}{
		{"whole", 0, -1, "0123456789"},
		{"start", 0, 4, "0123"},
		{"middle", 3, 4, "3456"},
		{"up to end", 6, 4, "6789"},
		{"last byte", 9, 1, "9"},
		{"to end", 7, -1, "789"},
		{"length beyond end", 7, 100, "789"},
		{"max length", 1, math.MaxInt64, "123456789"},
		{"zero length", 4, 0, ""},
		{"at end", 10, -1, ""},
		{"at end with length", 10, 5, ""},
		{"past end", 11, 3, ""},
		{"far past end", 1000, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.b.GetRange(t.Context(), key, tt.offset, tt.length)
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", tt.offset, tt.length, err)
			}
			if string(got) != tt.want {
				t.Errorf("GetRange(%d, %d) = %q, want %q", tt.offset, tt.length, got, tt.want)
			}
		})
	}
}

func testZeroLength(t *testing.T, f *fixture) {
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := f.key(tt.name)
			etag := f.create(t, key, tt.data)
			f.wantObject(t, key, nil, etag)
			for _, length := range []int64{-1, 0, 10} {
				if got, err := f.b.GetRange(t.Context(), key, 0, length); err != nil || len(got) != 0 {
					t.Errorf("GetRange(0, %d) = %q, %v; want empty", length, got, err)
				}
			}
			objs, err := f.b.List(t.Context(), key, "", 10)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(objs) != 1 || objs[0].Key != key || objs[0].Size != 0 || objs[0].ETag != etag {
				t.Errorf("List = %+v, want one object %q of size 0 with etag %q", objs, key, etag)
			}

			// An empty object can become non-empty and back again.
			etag2, err := f.b.PutIfMatch(t.Context(), key, []byte("x"), etag)
			if err != nil {
				t.Fatalf("PutIfMatch to non-empty: %v", err)
			}
			etag3, err := f.b.PutIfMatch(t.Context(), key, tt.data, etag2)
			if err != nil {
				t.Fatalf("PutIfMatch to empty: %v", err)
			}
			f.wantObject(t, key, nil, etag3)
		})
	}
}

// testKeys checks keys shaped like the ones the log engine writes.
func testKeys(t *testing.T, f *fixture) {
	names := []string{
		"topics/orders/0/00000000000000000042.log",
		"topics/orders/0/00000000000000000042.index",
		"topics/my-topic.v2/12/segment-7",
		"groups/group.with.dots/offsets",
		"a-b",
		"a.b",
		"a_b",
		"a/b/c/d/e",
		"1.2.3/4-5_6",
		"UPPER/lower",
	}
	var keys []string
	for _, name := range names {
		key := f.key(name)
		keys = append(keys, key)
		etag := f.create(t, key, []byte(name))
		f.wantObject(t, key, []byte(name), etag)
		want := name[2:min(5, len(name))]
		if got, err := f.b.GetRange(t.Context(), key, 2, 3); err != nil || string(got) != want {
			t.Errorf("GetRange(%q, 2, 3) = %q, %v; want %q", key, got, err, want)
		}
	}
	slices.Sort(keys)
	if got := f.list(t, f.prefix, "", 100); !slices.Equal(got, keys) {
		t.Errorf("List = %q, want %q", got, keys)
	}
	for _, key := range keys {
		if err := f.b.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
		f.wantMissing(t, key)
	}
}

// testNotAliased checks that the bucket does not keep the caller's buffers:
// changing them after a put must not change what is stored. (What Get
// returns may be shared with other readers; callers never modify it.)
func testNotAliased(t *testing.T, f *fixture) {
	t.Run("PutIfAbsent buffer", func(t *testing.T) {
		key := f.key("put-if-absent")
		buf := []byte("original")
		etag := f.create(t, key, buf)
		copy(buf, "XXXXXXXX")
		f.wantObject(t, key, []byte("original"), etag)
	})
	t.Run("PutIfMatch buffer", func(t *testing.T) {
		key := f.key("put-if-match")
		etag := f.create(t, key, []byte("first"))
		buf := []byte("original")
		etag, err := f.b.PutIfMatch(t.Context(), key, buf, etag)
		if err != nil {
			t.Fatalf("PutIfMatch: %v", err)
		}
		copy(buf, "XXXXXXXX")
		f.wantObject(t, key, []byte("original"), etag)
	})
}
