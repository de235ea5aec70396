package memory_test

import (
	"testing"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/buckettest"
	"github.com/siestamq/siesta/objectstore/memory"
)

func TestBucket(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket { return memory.New() })
}

// The Bucket interface leaves negative offsets undefined; memory rejects them.
func TestGetRangeNegativeOffset(t *testing.T) {
	b := memory.New()
	if _, err := b.PutIfAbsent(t.Context(), "k", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetRange(t.Context(), "k", -1, 2); err == nil {
		t.Errorf("GetRange(-1, 2) = %q, want an error", got)
	}
}
