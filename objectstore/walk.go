package objectstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// readChunk is how many objects a walk looks up at a time.
const readChunk = 64

// errObjectGone ends a walk at an object that was deleted under it
// (DeleteRecords or retention, perhaps on another broker).
var errObjectGone = fmt.Errorf("object deleted: %w", ErrNotFound)

// walkObjects reads the partition's objects in offset order, from the one
// that holds offset up to next, in the index or below it (see
// segmentsFrom), and gives each to visit. visit returns the offset after
// the last record it took, whether to go on, and an error that ends the
// walk. The first object is read alone (a reader at the tail needs no
// more); after it, ahead() of them at once (at most parallelReads): a
// reader catching up reads many objects, and one GET at a time would make
// it wait a round trip to the bucket for each. An object gone ends the walk
// with errObjectGone.
func (p *partition) walkObjects(ctx context.Context, offset, next int64, ahead func() int, visit func(data []byte) (cursor int64, more bool, err error)) error {
	cursor := offset
	first := true
	for cursor < next {
		segs, err := p.segmentsFrom(ctx, cursor, readChunk)
		if err != nil {
			return fmt.Errorf("read offset %d: %w", cursor, err)
		}
		if len(segs) == 0 {
			return errObjectGone
		}
		// Objects from next on hold nothing asked for (segs[0] holds
		// cursor, below next).
		segs = segs[:sort.Search(len(segs), func(i int) bool { return segs[i].base >= next })]
		before := cursor
		for len(segs) > 0 {
			n := 1
			if !first {
				n = min(len(segs), parallelReads, max(1, ahead()))
			}
			first = false
			window := segs[:n]
			segs = segs[n:]
			objects, errs := p.e.readEach(ctx, window)
			for i, seg := range window {
				if errors.Is(errs[i], ErrNotFound) {
					return errObjectGone
				}
				if errs[i] != nil {
					return fmt.Errorf("read %s: %w", seg.key, errs[i])
				}
				c, more, err := visit(objects[i])
				if err != nil {
					return fmt.Errorf("read %s: %w", seg.key, err)
				}
				cursor = max(cursor, c)
				if !more {
					return nil
				}
			}
		}
		if cursor == before {
			return nil // no record at or after cursor in these objects
		}
	}
	return nil
}
