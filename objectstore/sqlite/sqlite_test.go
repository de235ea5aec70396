package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/buckettest"
)

// openTemp opens a new database file in a test's temporary directory.
func openTemp(t testing.TB, opts Options) *Bucket {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "siesta.db"), opts)
}

// openPath opens the database at path and closes it when the test ends.
func openPath(t testing.TB, path string, opts Options) *Bucket {
	t.Helper()
	b, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func TestBucket(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket { return openTemp(t, Options{}) })
}

// split is one database seen through two Buckets, as two processes would
// see it: writes go through one, reads through the other.
type split struct {
	objectstore.Bucket // the reader
	w                  objectstore.Bucket
}

func (s split) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	return s.w.PutIfAbsent(ctx, key, data)
}

func (s split) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	return s.w.PutIfMatch(ctx, key, data, etag)
}

func (s split) Delete(ctx context.Context, key string) error { return s.w.Delete(ctx, key) }

// TestTwoBucketsConformance runs the suite with reads and writes on
// different connection pools: a write must be visible to the other pool as
// soon as it returns.
func TestTwoBucketsConformance(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket {
		path := filepath.Join(t.TempDir(), "siesta.db")
		return split{Bucket: openPath(t, path, Options{}), w: openPath(t, path, Options{})}
	})
}

// TestTwoBucketsRace races conditional writes through two Buckets on one
// file: every create has exactly one winner, and a counter incremented with
// compare-and-swap through both loses no update.
func TestTwoBucketsRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "siesta.db")
	buckets := [2]*Bucket{openPath(t, path, Options{}), openPath(t, path, Options{})}
	const workers = 8 // per bucket

	t.Run("PutIfAbsent", func(t *testing.T) {
		for round := range 20 {
			key := fmt.Sprintf("contended-%d", round)
			var (
				wins  atomic.Int32
				wg    sync.WaitGroup
				start = make(chan struct{})
			)
			for i := range 2 * workers {
				wg.Go(func() {
					<-start
					_, err := buckets[i%2].PutIfAbsent(t.Context(), key, fmt.Appendf(nil, "writer %d", i))
					switch {
					case err == nil:
						wins.Add(1)
					case !errors.Is(err, objectstore.ErrPreconditionFailed):
						t.Errorf("writer %d: %v", i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("round %d: %d writers created %q, want 1", round, n, key)
			}
		}
	})

	t.Run("PutIfMatch", func(t *testing.T) {
		const increments = 25 // per worker
		if _, err := buckets[0].PutIfAbsent(t.Context(), "counter", []byte("0")); err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			written = make(map[int]int) // value -> times written
			wg      sync.WaitGroup
		)
		for i := range 2 * workers {
			wg.Go(func() {
				for range increments {
					n, err := increment(t.Context(), buckets[i%2], "counter")
					if err != nil {
						t.Errorf("worker %d: %v", i, err)
						return
					}
					mu.Lock()
					written[n]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		total := 2 * workers * increments
		for n := 1; n <= total; n++ {
			if written[n] != 1 {
				t.Errorf("value %d written %d times, want once", n, written[n])
			}
		}
		for _, b := range buckets {
			if obj, err := b.Get(t.Context(), "counter"); err != nil || string(obj.Data) != strconv.Itoa(total) {
				t.Errorf("counter = %q, %v; want %d", obj.Data, err, total)
			}
		}
	})
}

// increment adds one to the decimal counter at key with compare-and-swap,
// retrying while other writers get there first, and returns what it wrote.
func increment(ctx context.Context, b objectstore.Bucket, key string) (int, error) {
	for {
		obj, err := b.Get(ctx, key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(obj.Data))
		if err != nil {
			return 0, fmt.Errorf("counter holds %q", obj.Data)
		}
		_, err = b.PutIfMatch(ctx, key, []byte(strconv.Itoa(n+1)), obj.ETag)
		if err == nil {
			return n + 1, nil
		}
		if !errors.Is(err, objectstore.ErrPreconditionFailed) {
			return 0, err
		}
	}
}

// TestETagNeverRepeats deletes and recreates a key: a PutIfMatch holding
// the etag of the first life must not succeed on the second, even after
// the database is reopened.
func TestETagNeverRepeats(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "siesta.db")
	ctx := t.Context()
	seen := make(map[string]bool)
	for reopen := range 2 {
		b := openPath(t, path, Options{})
		for i := range 5 {
			etag, err := b.PutIfAbsent(ctx, "k", []byte("same"))
			if err != nil {
				t.Fatal(err)
			}
			if seen[etag] {
				t.Fatalf("reopen %d, life %d: etag %s handed out again", reopen, i, etag)
			}
			for old := range seen {
				if _, err := b.PutIfMatch(ctx, "k", []byte("stale"), old); !errors.Is(err, objectstore.ErrPreconditionFailed) {
					t.Fatalf("PutIfMatch with the etag %s of an earlier life: %v, want ErrPreconditionFailed", old, err)
				}
			}
			seen[etag] = true
			if err := b.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
		}
		// The highest version belonged to the deleted key: a counter
		// derived from max(version) would hand it out again here.
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPutIfMatchForeignETag(t *testing.T) {
	t.Parallel()
	b := openTemp(t, Options{})
	if _, err := b.PutIfAbsent(t.Context(), "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, etag := range []string{"", "abc", `"1"`, "99999999999999999999999"} {
		if _, err := b.PutIfMatch(t.Context(), "k", []byte("y"), etag); !errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfMatch(etag %q): %v, want ErrPreconditionFailed", etag, err)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t.Run("missing directory", func(t *testing.T) {
		_, err := Open(t.Context(), filepath.Join(dir, "nope", "siesta.db"), Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open in a missing directory: %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("creates the file", func(t *testing.T) {
		path := filepath.Join(dir, "new.db")
		openPath(t, path, Options{})
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		if _, err := Open(t.Context(), filepath.Join(dir, "x.db"), Options{Synchronous: "off"}); err == nil {
			t.Error("Open with synchronous=off succeeded")
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		path := filepath.Join(dir, "newer.db")
		b := openPath(t, path, Options{})
		if _, err := b.w.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		newer, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer newer.Close()
		if _, err := newer.Get(t.Context(), "k"); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("first use of a newer schema: %v", err)
		}
	})
	t.Run("page size", func(t *testing.T) {
		b := openPath(t, filepath.Join(t.TempDir(), "p.db"), Options{})
		if got := pageSizeOf(t, b); got != pageSize {
			t.Errorf("new database: page size %d, want %d", got, pageSize)
		}

		// A database made with SQLite's default pages keeps them and works.
		path := filepath.Join(t.TempDir(), "old.db")
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{"PRAGMA page_size = 4096", "PRAGMA journal_mode = WAL", "CREATE TABLE t (x)"} {
			if _, err := raw.ExecContext(t.Context(), stmt); err != nil {
				t.Fatal(stmt, err)
			}
		}
		raw.Close()
		old := openPath(t, path, Options{})
		if _, err := old.PutIfAbsent(t.Context(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		if got := pageSizeOf(t, old); got != 4096 {
			t.Errorf("existing database: page size %d, want 4096 kept", got)
		}
	})
	t.Run("synchronous", func(t *testing.T) {
		for _, tt := range []struct {
			sync Synchronous
			want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
		}{{"", 2}, {SyncFull, 2}, {SyncNormal, 1}} {
			b := openPath(t, filepath.Join(t.TempDir(), "s.db"), Options{Synchronous: tt.sync})
			var got int
			if err := b.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("synchronous %q: PRAGMA synchronous = %d, want %d", tt.sync, got, tt.want)
			}
		}
	})
}

func pageSizeOf(t *testing.T, b *Bucket) int {
	t.Helper()
	var got int
	if err := b.w.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		prefix, end string
		ok          bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"topics/", "topics0", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"\x7f", "\x80", true},
	}
	for _, tt := range tests {
		end, ok := prefixEnd(tt.prefix)
		if end != tt.end || ok != tt.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tt.prefix, end, ok, tt.end, tt.ok)
		}
	}
}

// TestGroupCommit runs many writes at once on one bucket, so that they are
// committed in groups: writes to new keys all succeed, with distinct etags,
// and writes whose condition fails fail alone, in the same groups.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	b := openPath(t, filepath.Join(t.TempDir(), "siesta.db"), Options{})
	if _, err := b.PutIfAbsent(t.Context(), "taken", []byte("first")); err != nil {
		t.Fatal(err)
	}
	const writers = 64
	etags := make([]string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if i%2 == 1 {
				if _, err := b.PutIfAbsent(t.Context(), "taken", []byte("again")); !errors.Is(err, objectstore.ErrPreconditionFailed) {
					t.Errorf("writer %d on a taken key: %v, want ErrPreconditionFailed", i, err)
				}
				return
			}
			etag, err := b.PutIfAbsent(t.Context(), fmt.Sprintf("new-%d", i), []byte{byte(i)})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			etags[i] = etag
		})
	}
	wg.Wait()
	seen := make(map[string]bool)
	for i := 0; i < writers; i += 2 {
		if seen[etags[i]] {
			t.Errorf("etag %q handed out twice", etags[i])
		}
		seen[etags[i]] = true
		obj, err := b.Get(t.Context(), fmt.Sprintf("new-%d", i))
		if err != nil || len(obj.Data) != 1 || obj.Data[0] != byte(i) || obj.ETag != etags[i] {
			t.Errorf("new-%d: %+v, %v; want its data and etag %q", i, obj, err, etags[i])
		}
	}
	if obj, err := b.Get(t.Context(), "taken"); err != nil || string(obj.Data) != "first" {
		t.Errorf("taken: %q, %v; want the first write's data", obj.Data, err)
	}
}

// TestFailedGroupWritesNothing: when a group's transaction fails, every
// write in it fails with that error, including one whose condition failed
// only because of an earlier write of the same group.
func TestFailedGroupWritesNothing(t *testing.T) {
	t.Parallel()
	b := openPath(t, filepath.Join(t.TempDir(), "siesta.db"), Options{})
	insert := func(key string) putFunc {
		return func(ctx context.Context, tx *sql.Tx, version, now int64) (sql.Result, error) {
			return tx.StmtContext(ctx, b.insert).ExecContext(ctx, key, version, now, []byte("v"))
		}
	}
	broken := errors.New("broken statement")
	group := []*pendingWrite{
		{ctx: t.Context(), put: insert("k")},
		{ctx: t.Context(), put: insert("k")}, // fails its condition only because of the first
		{ctx: t.Context(), put: func(context.Context, *sql.Tx, int64, int64) (sql.Result, error) { return nil, broken }},
	}
	b.commitGroup(group)
	for i, w := range group {
		if !errors.Is(w.err, broken) || w.etag != "" {
			t.Errorf("write %d: etag %q, err %v; want the group's error", i, w.etag, w.err)
		}
	}
	if _, err := b.Get(t.Context(), "k"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("k after a failed group: %v, want not found", err)
	}
}
