package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// TestBackup takes copies while writers keep writing. Each copy must open,
// pass SQLite's integrity check, hold every write that returned before the
// backup began, and hold only whole, correct objects.
func TestBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openPath(t, filepath.Join(dir, "siesta.db"), Options{})

	var (
		done    atomic.Int64 // writes 0..done-1 of each writer have returned
		stop    = make(chan struct{})
		started = make(chan struct{}) // writer 0 has made 50 writes, or a writer stopped
		once    sync.Once
		writing sync.WaitGroup
	)
	const writers = 2
	key := func(w, i int) string { return fmt.Sprintf("data/%d/%08d", w, i) }
	for w := range writers {
		writing.Go(func() {
			defer once.Do(func() { close(started) })
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.PutIfAbsent(t.Context(), key(w, i), payload(key(w, i))); err != nil {
					t.Error(err)
					return
				}
				if w == 0 {
					done.Store(int64(i + 1))
					if i+1 == 50 {
						once.Do(func() { close(started) })
					}
				}
			}
		})
	}
	<-started

	for n := range 3 {
		before := int(done.Load())
		dst := filepath.Join(dir, fmt.Sprintf("backup-%d.db", n))
		if err := b.Backup(t.Context(), dst); err != nil {
			t.Fatal(err)
		}
		after := int(done.Load())

		c := openPath(t, dst, Options{})
		checkIntegrity(t, c)
		objs, err := objectstore.ListAll(t.Context(), c, "data/", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			obj, err := c.Get(t.Context(), o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(obj.Data, payload(o.Key)) || obj.ETag != o.ETag {
				t.Errorf("backup %d: %s holds %d bytes, etag %s", n, o.Key, len(obj.Data), obj.ETag)
			}
		}
		for i := range before {
			if _, err := c.Get(t.Context(), key(0, i)); err != nil {
				t.Errorf("backup %d lacks %s, written before it began: %v", n, key(0, i), err)
			}
		}
		t.Logf("backup %d: %d objects; writer 0 had done %d before, %d after", n, len(objs), before, after)
	}
	close(stop)
	writing.Wait()
}

func TestBackupExisting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := openPath(t, filepath.Join(dir, "siesta.db"), Options{})
	for _, name := range []string{"empty", "full"} {
		dst := filepath.Join(dir, name)
		content := []byte(name)
		if name == "empty" {
			content = nil
		}
		if err := os.WriteFile(dst, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := b.Backup(t.Context(), dst); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Backup over the %s file %s: %v, want fs.ErrExist", name, dst, err)
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, content) {
			t.Errorf("Backup changed %s: %q, %v", dst, got, err)
		}
	}
	if err := b.Backup(t.Context(), filepath.Join(dir, "missing", "backup.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup into a missing directory: %v, want fs.ErrNotExist", err)
	}
}
