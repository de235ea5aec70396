package buckettest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// testListOrder checks that listings sort by bytes, where '-' < '.' < '/'
// < digits < upper case < lower case, whatever order the keys were written in.
func testListOrder(t *testing.T, f *fixture) {
	names := []string{"ab/c", "a/b", "z", "B", "a0", "a.b", "aa", "a", "b", "a-b"}
	etags := make(map[string]string)
	var want []string
	for _, name := range names {
		key := f.key(name)
		etags[key] = f.create(t, key, []byte(name))
		want = append(want, key)
	}
	slices.Sort(want)

	for _, limit := range []int{100, 0, -1} {
		objs, err := f.b.List(t.Context(), f.prefix, "", limit)
		if err != nil {
			t.Fatalf("List(limit %d): %v", limit, err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
			name := o.Key[len(f.prefix):]
			if o.ETag != etags[o.Key] || o.Size != int64(len(name)) {
				t.Errorf("List(limit %d): %+v, want etag %q and size %d", limit, o, etags[o.Key], len(name))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(limit %d) = %q, want %q", limit, got, want)
		}
	}
}

// testListPrefix lists keys that share leading bytes with keys outside the
// prefix, so a backend that filters by anything but a byte prefix fails.
func testListPrefix(t *testing.T, f *fixture) {
	for _, name := range []string{"lo", "log", "log/1", "log/10", "log/2", "log2/x", "logs", "loh", "m"} {
		f.create(t, f.key(name), []byte(name))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"log/", []string{"log/1", "log/10", "log/2"}},
		{"log/1", []string{"log/1", "log/10"}},
		{"log", []string{"log", "log/1", "log/10", "log/2", "log2/x", "logs"}},
		{"lo", []string{"lo", "log", "log/1", "log/10", "log/2", "log2/x", "logs", "loh"}},
		{"", []string{"lo", "log", "log/1", "log/10", "log/2", "log2/x", "logs", "loh", "m"}},
		{"log/10", []string{"log/10"}},
		{"log/3", nil},
		{"logz", nil},
		{"l/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			want := f.keys(tt.want...)
			for _, limit := range []int{100, 2} {
				if got := f.list(t, f.key(tt.prefix), "", limit); !slices.Equal(got, want) {
					t.Errorf("List(%q, limit %d) = %q, want %q", tt.prefix, limit, got, want)
				}
			}
		})
	}
}

// testListStartAfter checks that startAfter is strict, need not exist, and
// may fall outside the prefix on either side.
func testListStartAfter(t *testing.T, f *fixture) {
	for _, name := range []string{"a", "b", "b/1", "b/2", "c"} {
		f.create(t, f.key(name), []byte(name))
	}
	all := f.prefix
	tests := []struct {
		name               string
		prefix, startAfter string
		want               []string
	}{
		{"none", all, "", []string{"a", "b", "b/1", "b/2", "c"}},
		{"before prefix", all, all[:len(all)-1], []string{"a", "b", "b/1", "b/2", "c"}},
		{"prefix itself", all, all, []string{"a", "b", "b/1", "b/2", "c"}},
		{"first key", all, all + "a", []string{"b", "b/1", "b/2", "c"}},
		{"missing key", all, all + "a0", []string{"b", "b/1", "b/2", "c"}},
		{"key that prefixes others", all, all + "b", []string{"b/1", "b/2", "c"}},
		{"between", all, all + "b/", []string{"b/1", "b/2", "c"}},
		{"middle key", all, all + "b/1", []string{"b/2", "c"}},
		{"last key", all, all + "c", nil},
		{"past last key", all, all + "d", nil},
		{"sub-prefix, before", all + "b/", all + "a", []string{"b/1", "b/2"}},
		{"sub-prefix, just before", all + "b/", all + "b", []string{"b/1", "b/2"}},
		{"sub-prefix, inside", all + "b/", all + "b/1", []string{"b/2"}},
		{"sub-prefix, after", all + "b/", all + "c", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := f.keys(tt.want...)
			for _, limit := range []int{100, 1} {
				if got := f.list(t, tt.prefix, tt.startAfter, limit); !slices.Equal(got, want) {
					t.Errorf("List(%q, %q, limit %d) = %q, want %q", tt.prefix, tt.startAfter, limit, got, want)
				}
			}
		})
	}
}

// testListPaging checks that a page is short only when the listing is done.
func testListPaging(t *testing.T, f *fixture) {
	const n = 50
	var all []string
	for i := range n {
		key := f.key(fmt.Sprintf("obj-%03d", i))
		f.create(t, key, []byte{byte(i)})
		all = append(all, key)
	}

	tests := []struct {
		limit int
		pages []int // sizes of the pages, the last one short
	}{
		{7, []int{7, 7, 7, 7, 7, 7, 7, 1}},
		{10, []int{10, 10, 10, 10, 10, 0}},
		{49, []int{49, 1}},
		{50, []int{50, 0}},
		{51, []int{50}},
		{0, []int{50}},
		{-1, []int{50}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("limit ", tt.limit), func(t *testing.T) {
			full := tt.limit
			if full <= 0 {
				full = 100 // the smallest page size List allows
			}
			var got []string
			var pages []int
			startAfter := ""
			for len(pages) <= len(tt.pages) {
				objs, err := f.b.List(t.Context(), f.prefix, startAfter, tt.limit)
				if err != nil {
					t.Fatalf("List(%q, %d): %v", startAfter, tt.limit, err)
				}
				pages = append(pages, len(objs))
				for _, o := range objs {
					got = append(got, o.Key)
				}
				if len(objs) < full {
					break
				}
				startAfter = objs[len(objs)-1].Key
			}
			if !slices.Equal(pages, tt.pages) {
				t.Errorf("page sizes = %v, want %v", pages, tt.pages)
			}
			if !slices.Equal(got, all) {
				t.Errorf("paged listing = %q, want %q", got, all)
			}
		})
	}

	t.Run("ListAll", func(t *testing.T) {
		for _, from := range []int{-1, 0, 24, n - 1} {
			startAfter, want := "", all
			if from >= 0 {
				startAfter, want = all[from], all[from+1:]
			}
			objs, err := objectstore.ListAll(t.Context(), f.b, f.prefix, startAfter)
			if err != nil {
				t.Fatalf("ListAll(%q): %v", startAfter, err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListAll(%q) = %q, want %q", startAfter, got, want)
			}
		}
	})
}

func testListEmpty(t *testing.T, f *fixture) {
	for _, limit := range []int{10, 0} {
		objs, err := f.b.List(t.Context(), f.prefix, "", limit)
		if err != nil || len(objs) != 0 {
			t.Errorf("List of an empty bucket (limit %d) = %+v, %v; want nothing", limit, objs, err)
		}
	}
	f.create(t, f.key("dir/obj"), nil)
	for _, prefix := range []string{"other/", "dir/obj/", "dir/obj0", "dir0"} {
		objs, err := f.b.List(t.Context(), f.key(prefix), "", 10)
		if err != nil || len(objs) != 0 {
			t.Errorf("List(%q) = %+v, %v; want nothing", prefix, objs, err)
		}
	}
}

// keys returns names inside the fixture's prefix.
func (f *fixture) keys(names ...string) []string {
	var keys []string
	for _, name := range names {
		keys = append(keys, f.key(name))
	}
	return keys
}
