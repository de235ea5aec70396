package objectstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// A partition indexes in memory only its newest objects: a broker woken
// for a partition with a week of history must not list that history before
// answering, nor keep a million keys in memory. The index (p.segments)
// covers a contiguous run of objects ending at the tail; the objects below
// it are found with a LIST when a reader asks for them (locate).
const (
	// listPage is how many keys one LIST asks for: S3's most.
	listPage = 1000
	// maxIndexed bounds the index; appends beyond it drop its older half.
	maxIndexed = 5_000
	// searchProbes is how many LISTs loading a partition sends at once
	// while it searches for the newest objects: fewer round trips to a
	// store whose LISTs take their latency (S3), no slower on one whose
	// LISTs take its CPU (MinIO on the same machine; docs/benchmarks.md).
	searchProbes = 4
	// maxLocated bounds the runs of objects below the index a partition
	// remembers (one per reader of its history, as a rule).
	maxLocated = 4
)

// listNewest returns a contiguous run of the partition's newest objects,
// ascending, ending at the newest: every object when they fit in one
// LIST page, else between one and two pages' worth. Instead of listing the
// whole history it searches the key space (keys are zero-padded offsets,
// so they sort as offsets do) for a start after which one full page but not
// two remain, searchProbes LISTs at a time: a few round trips to the bucket
// whatever the partition's length.
func (p *partition) listNewest(ctx context.Context) ([]ObjectInfo, error) {
	first, more, _, err := p.listSegments(ctx, "")
	if err != nil || !more {
		return first, err
	}
	// lo: a full page of objects starts after it (loPage). hi, once found:
	// fewer than a page do (hiPage, complete).
	lo, loPage := int64(-1), first
	hi, hiPage := int64(-1), []ObjectInfo(nil)
	lastBase := func(objs []ObjectInfo) int64 { b, _ := segmentBase(objs[len(objs)-1].Key); return b }
	firstBase, _ := segmentBase(first[0].Key)
	step := max(lastBase(first)-firstBase+1, 1) // offsets in a page of objects
	// Until hi is found, probe further and further beyond loPage (a
	// page's offsets, then two pages', four...); then probe evenly inside
	// (lo, hi) until loPage reaches hi: then loPage and hiPage together
	// are every object after lo.
	for hi < 0 || lastBase(loPage) < hi {
		var xs []int64
		if hi < 0 {
			x := min(lastBase(loPage), maxOffset)
			if lo < 0 {
				// The first time, the next page only, as a listing
				// would: most partitions that fill a page end in it.
				xs = append(xs, x)
			}
			for len(xs) < max(1, p.e.searchProbes) && lo >= 0 {
				x = min(x+step, maxOffset)
				xs = append(xs, x)
				if x == maxOffset {
					break
				}
				step = min(2*step, maxOffset)
			}
		} else {
			n := min(int64(max(1, p.e.searchProbes)), hi-lo-1)
			d := (hi - lo) / (n + 1)
			for j := range n {
				xs = append(xs, lo+d*(j+1))
			}
		}
		if len(xs) == 0 {
			return nil, fmt.Errorf("listing not in offset order: %d objects after offset %d, none after %d", p.e.listPage, lo, hi)
		}
		pages, full, err := p.probe(ctx, xs)
		if err != nil {
			return nil, err
		}
		prevLo, prevHi := lo, hi
		// More objects follow a later point only while the bucket grows
		// under the search: take the furthest full page for lo, and the
		// nearest page after it that is not full for hi.
		for j, x := range xs {
			if full[j] && x > lo {
				lo, loPage = x, pages[j]
			}
		}
		for j, x := range xs {
			if !full[j] && x > lo && (hi < 0 || x < hi) {
				hi, hiPage = x, pages[j]
				break
			}
		}
		if hi < 0 && lo >= maxOffset {
			return nil, fmt.Errorf("objects listed after offset %d", lo)
		}
		if lo == prevLo && hi == prevHi {
			return nil, fmt.Errorf("listing not in offset order around offsets %d to %d", lo, hi)
		}
	}
	newest := slices.Clip(loPage)
	last := loPage[len(loPage)-1].Key
	for _, o := range hiPage {
		if o.Key > last {
			newest = append(newest, o)
		}
	}
	return newest, nil
}

// probe lists a page after each of the offsets xs at once.
func (p *partition) probe(ctx context.Context, xs []int64) (pages [][]ObjectInfo, full []bool, err error) {
	pages, full = make([][]ObjectInfo, len(xs)), make([]bool, len(xs))
	errs := make([]error, len(xs))
	var wg sync.WaitGroup
	for j, x := range xs {
		wg.Go(func() {
			pages[j], full[j], _, errs[j] = p.listSegments(ctx, p.keyAfter(x))
		})
	}
	wg.Wait()
	return pages, full, errors.Join(errs...)
}

// listSegments lists a page of the partition's objects after the key
// startAfter ("": from the first) and keeps those with segment keys,
// paging on past a page that has none. more says whether the page was
// full, so that more may follow the key last.
func (p *partition) listSegments(ctx context.Context, startAfter string) (objs []ObjectInfo, more bool, last string, err error) {
	for {
		prefix := partitionPrefix(p.id.topicID, p.id.partition)
		page, err := p.e.bucket.List(ctx, prefix, startAfter, p.e.listPage)
		if err != nil {
			return nil, false, "", err
		}
		more = len(page) >= p.e.listPage
		if len(page) > 0 {
			last = page[len(page)-1].Key
		}
		objs = keepSegments(prefix, page)
		if len(objs) > 0 || !more {
			return objs, more, last, nil
		}
		startAfter = last
	}
}

// keyAfter is the key to list after for the objects starting above
// offset: "" (all of them) for a negative offset.
func (p *partition) keyAfter(offset int64) string {
	if offset < 0 {
		return ""
	}
	return p.key(offset)
}

// keepSegments keeps the objects of a listing of the partition prefix
// whose keys are its segment keys: the prefix and 20 digits, nothing else
// (an object in a "subfolder" whose name ends in 20 digits is not one).
func keepSegments(prefix string, objs []ObjectInfo) []ObjectInfo {
	return slices.DeleteFunc(objs, func(o ObjectInfo) bool {
		_, ok := segmentBase(o.Key)
		return !ok || len(o.Key) != len(prefix)+20 || !strings.HasPrefix(o.Key, prefix)
	})
}

// segmentsOf turns a listing of segment keys into segments. Each one ends where the next
// begins; the last one's end is unknown and set to its base.
func segmentsOf(objs []ObjectInfo) []segment {
	segs := make([]segment, 0, len(objs))
	for _, o := range objs {
		base, _ := segmentBase(o.Key)
		if n := len(segs); n > 0 {
			segs[n-1].end = base
		}
		segs = append(segs, segment{base: base, end: base, key: o.Key})
	}
	return segs
}

// trimIndex drops the older half of the index once it holds more than
// maxIndexed objects; reads below it locate their objects with a LIST.
// p.mu is held.
func (p *partition) trimIndex() {
	if len(p.segments) > p.e.maxIndexed {
		p.segments = slices.Clone(p.segments[len(p.segments)-p.e.maxIndexed/2:])
	}
}

// segmentsFrom returns up to n segments starting with the one that holds
// offset: from the index, or for an offset below it from one of the runs
// of objects the last few locates found, or from a new locate. A nil result means no object
// holds offset (it was deleted).
func (p *partition) segmentsFrom(ctx context.Context, offset int64, n int) ([]segment, error) {
	p.mu.Lock()
	if len(p.segments) > 0 && offset >= p.segments[0].base {
		segs := p.segments
		i := sort.Search(len(segs), func(i int) bool { return segs[i].end > offset })
		out := slices.Clone(segs[i:min(len(segs), i+n)])
		p.mu.Unlock()
		return out, nil
	}
	// In a located run, only a segment whose end is known (not the last
	// one) can be trusted to hold offset.
	for r, run := range p.located {
		i := sort.Search(len(run), func(i int) bool { return run[i].end > offset })
		if i < len(run) && run[i].base <= offset && run[i].end > run[i].base {
			out := slices.Clone(run[i:min(len(run), i+n)])
			// The most recently used run first.
			copy(p.located[1:r+1], p.located[:r])
			p.located[0] = run
			p.mu.Unlock()
			return out, nil
		}
	}
	p.mu.Unlock()
	run, err := p.locate(ctx, offset)
	if err != nil || run == nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.located) < maxLocated {
		p.located = append(p.located, nil)
	}
	copy(p.located[1:], p.located)
	p.located[0] = run
	p.mu.Unlock()
	return slices.Clone(run[:min(len(run), n)]), nil
}

// locate lists the objects from the one that holds offset, an offset below
// the index: up to a page of them. It starts listing a few objects' worth
// of offsets below offset (the index tells how many offsets an object
// holds on average) and goes further back until the listing starts at or
// below offset, or forward a page at a time until it passes offset. A nil
// result means no object holds offset.
func (p *partition) locate(ctx context.Context, offset int64) ([]segment, error) {
	p.mu.Lock()
	span := int64(1)
	if n := len(p.segments); n > 0 {
		span = max(1, (p.next-p.segments[0].base)/int64(n))
	}
	p.mu.Unlock()
	back := 8 * span
	startAfter := p.keyAfter(offset - back)
	var carry []segment // the last object listed, starting at or below offset
	for {
		objs, more, last, err := p.listSegments(ctx, startAfter)
		if err != nil {
			return nil, fmt.Errorf("locate offset %d: %w", offset, err)
		}
		segs := segmentsOf(objs)
		if carry != nil {
			if len(segs) > 0 {
				carry[0].end = segs[0].base
			}
			segs, carry = append(carry, segs...), nil
		}
		if len(segs) == 0 || segs[0].base > offset {
			if startAfter == "" {
				return nil, nil
			}
			back = min(back, maxOffset/8) * 8
			startAfter = p.keyAfter(offset - back)
			continue
		}
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
		if i == len(segs)-1 && more {
			// Every listed object starts at or below offset, and more
			// follow: list on, keeping the last one.
			carry = []segment{segs[i]}
			startAfter = last
			continue
		}
		return segs[i:], nil
	}
}
