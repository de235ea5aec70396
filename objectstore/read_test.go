package objectstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// A fetch reads objects after its first several at once, but no more of
// them than the ones it has read say will fill its maxBytes: large objects
// are not read ahead by the dozen.
func TestReadReadsAheadOnlyWhatFitsMaxBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := memory.New()
	writer := newEngine(bucket)
	topic := mustTopic(t, writer, "read-ahead", 1)
	tests := []struct {
		name         string
		value        int // bytes of each object's one record
		maxBytes     int
		maxObjectGET int64
	}{
		// Objects of ~10 KB: the first, then the 2 that the rest of
		// 25,000 bytes may hold; 2 batches fit.
		{name: "large objects", value: 10_000, maxBytes: 25_000, maxObjectGET: 3},
		// Objects of ~170 bytes: the first, then the 5 that the rest of
		// 1,000 bytes may hold, at once.
		{name: "small objects", value: 100, maxBytes: 1_000, maxObjectGET: 6},
	}
	var start int64
	for _, tt := range tests {
		spec := plainBatch(1)
		spec.value = strings.Repeat("v", tt.value)
		for range 40 {
			if _, err := writer.Append(ctx, topic, 0, spec.encode()); err != nil {
				t.Fatal(err)
			}
		}
		counted := objectstore.NewCountingBucket(bucket)
		e := newEngine(counted)
		if _, err := e.Offsets(ctx, topic, 0); err != nil { // load: reads the newest objects
			t.Fatal(err)
		}
		before := counted.Counts().Of(objectstore.RequestGet)
		res, err := e.Read(ctx, topic, 0, start, tt.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(max(1, tt.maxBytes/len(spec.encode())))
		if first, last := batchRange(t, res.Records); first != start || last-first+1 != want {
			t.Errorf("%s: read %d-%d, want %d batches from %d", tt.name, first, last, want, start)
		}
		if gets := counted.Counts().Of(objectstore.RequestGet) - before; gets > tt.maxObjectGET {
			t.Errorf("%s: a fetch of %d bytes made %d GETs", tt.name, tt.maxBytes, gets)
		}
		start += 40
	}
}
