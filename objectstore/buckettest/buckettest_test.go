package buckettest_test

import (
	"testing"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/buckettest"
	"github.com/siestamq/siesta/objectstore/memory"
)

// TestSharedBucket runs the suite with one bucket for every subtest, as a
// shared MinIO bucket would be: subtests must stay inside their prefixes,
// and leave the bucket empty.
func TestSharedBucket(t *testing.T) {
	b := memory.New()
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket { return b })

	objs, err := b.List(t.Context(), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		t.Errorf("left behind: %s", o.Key)
	}
}
