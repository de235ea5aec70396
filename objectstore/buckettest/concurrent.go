package buckettest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/siestamq/siesta/objectstore"
)

// workers is how many goroutines race in each concurrency test: enough to
// collide often, few enough for a remote bucket.
const workers = 16

// testConcurrentPutIfAbsent races creates of one key: exactly one must win,
// and the object must hold the winner's data.
func testConcurrentPutIfAbsent(t *testing.T, f *fixture) {
	for round := range 4 {
		key := f.key(fmt.Sprintf("contended-%d", round))
		var (
			etags [workers]string
			errs  [workers]error
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for i := range workers {
			wg.Go(func() {
				<-start
				etags[i], errs[i] = f.b.PutIfAbsent(t.Context(), key, []byte(fmt.Sprint("writer ", i)))
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: writers %d and %d both created %q", round, winner, i, key)
			case err == nil:
				winner = i
			case !errors.Is(err, objectstore.ErrPreconditionFailed):
				t.Errorf("round %d: writer %d: %v, want nil or ErrPreconditionFailed", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer created %q", round, key)
		}
		f.wantObject(t, key, []byte(fmt.Sprint("writer ", winner)), etags[winner])
	}
}

// testConcurrentPutIfMatch increments a counter from many goroutines with
// read-modify-write loops. Every value must be written exactly once: a value
// written twice is a lost update.
func testConcurrentPutIfMatch(t *testing.T, f *fixture) {
	const increments = 5 // per worker
	key := f.key("counter")
	f.create(t, key, []byte("0"))

	var (
		written [workers][]int
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for range increments {
				n, err := f.increment(t, key)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				written[w] = append(written[w], n)
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	var all []int
	for _, ns := range written {
		all = append(all, ns...)
	}
	slices.Sort(all)
	for i, n := range all {
		if n != i+1 {
			t.Fatalf("values written = %v, want 1 to %d once each", all, workers*increments)
		}
	}
	obj, err := f.b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got, want := string(obj.Data), strconv.Itoa(workers*increments); got != want {
		t.Errorf("counter = %s, want %s", got, want)
	}
}

// increment adds one to the counter at key, retrying when another writer
// got there first, and returns the value it wrote.
func (f *fixture) increment(t *testing.T, key string) (int, error) {
	for range 10 * workers * workers { // bounded, so a broken bucket fails rather than hangs
		obj, err := f.b.Get(t.Context(), key)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(obj.Data))
		if err != nil {
			return 0, fmt.Errorf("counter holds %q: %v", obj.Data, err)
		}
		_, err = f.b.PutIfMatch(t.Context(), key, []byte(strconv.Itoa(n+1)), obj.ETag)
		if err == nil {
			return n + 1, nil
		}
		if !errors.Is(err, objectstore.ErrPreconditionFailed) {
			return 0, err
		}
	}
	return 0, errors.New("increment kept losing")
}

// testConcurrentList lists, in small pages, while other goroutines create,
// replace and delete keys on both sides of a set of keys that never change.
// Every listing must be ordered, stay in its prefix and hold those keys.
func testConcurrentList(t *testing.T, f *fixture) {
	const (
		writers = 4
		listers = 4
		rounds  = 6 // per writer
	)
	var seeds []string
	for i := range 10 {
		key := f.key(fmt.Sprintf("m-seed-%02d", i))
		f.create(t, key, nil)
		seeds = append(seeds, key)
	}

	var (
		writing, listing sync.WaitGroup
		done             = make(chan struct{})
	)
	for w := range writers {
		writing.Go(func() {
			for i := range rounds {
				if err := f.churn(t, f.key(fmt.Sprintf("a-%d-%d", w, i)), f.key(fmt.Sprintf("z-%d-%d", w, i))); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	for l := range listers {
		listing.Go(func() {
			for {
				if err := f.listOnce(t, seeds); err != nil {
					t.Errorf("lister %d: %v", l, err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	writing.Wait()
	close(done)
	listing.Wait()
	if t.Failed() {
		return
	}

	want := slices.Clone(seeds)
	for w := range writers {
		for i := range rounds {
			want = append(want, f.key(fmt.Sprintf("z-%d-%d", w, i)))
		}
	}
	slices.Sort(want)
	if got := f.list(t, f.prefix, "", 100); !slices.Equal(got, want) {
		t.Errorf("final List = %q, want %q", got, want)
	}
}

// churn creates both keys, replaces the second and deletes the first.
func (f *fixture) churn(t *testing.T, first, second string) error {
	if _, err := f.b.PutIfAbsent(t.Context(), first, []byte("x")); err != nil {
		return err
	}
	etag, err := f.b.PutIfAbsent(t.Context(), second, []byte("x"))
	if err != nil {
		return err
	}
	if _, err := f.b.PutIfMatch(t.Context(), second, []byte("y"), etag); err != nil {
		return err
	}
	return f.b.Delete(t.Context(), first)
}

// listOnce pages through the fixture's prefix with a small limit and checks
// the listing against the keys that are always there.
func (f *fixture) listOnce(t *testing.T, always []string) error {
	const limit = 5
	var keys []string
	startAfter := ""
	for {
		objs, err := f.b.List(t.Context(), f.prefix, startAfter, limit)
		if err != nil {
			return err
		}
		if len(objs) > limit {
			return fmt.Errorf("List returned %d objects, limit %d", len(objs), limit)
		}
		for _, o := range objs {
			if !strings.HasPrefix(o.Key, f.prefix) {
				return fmt.Errorf("List(%q) returned %q", f.prefix, o.Key)
			}
			if o.Key <= startAfter {
				return fmt.Errorf("List out of order: %q after %q", o.Key, startAfter)
			}
			keys = append(keys, o.Key)
			startAfter = o.Key
		}
		if len(objs) < limit {
			break
		}
	}
	for _, key := range always {
		if _, ok := slices.BinarySearch(keys, key); !ok {
			return fmt.Errorf("listing %q lacks %q", keys, key)
		}
	}
	return nil
}
