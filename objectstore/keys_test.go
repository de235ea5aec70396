package objectstore

import (
	"fmt"
	"testing"
)

func TestSegmentKey(t *testing.T) {
	t.Parallel()
	for _, base := range []int64{0, 7, 12345678901234567, 1<<63 - 1} {
		want := fmt.Sprintf("data/abc/3/%020d", base)
		if got := segmentKey("abc", 3, base); got != want {
			t.Errorf("segmentKey(%d) = %q, want %q", base, got, want)
		}
		if got, ok := segmentBase(segmentKey("abc", 3, base)); !ok || got != base {
			t.Errorf("segmentBase(segmentKey(%d)) = %d, %v", base, got, ok)
		}
	}
}
