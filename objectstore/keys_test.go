package objectstore

import (
	"fmt"
	"testing"
)

func TestSegmentKey(t *testing.T) {
	t.Parallel()
	for _, base := range []int64{0, 7, 12345678901234567, maxOffset} {
		want := fmt.Sprintf("data/abc/3/%020d", base)
		if got := segmentKey("abc", 3, base); got != want {
			t.Errorf("segmentKey(%d) = %q, want %q", base, got, want)
		}
		if got, ok := segmentBase(segmentKey("abc", 3, base)); !ok || got != base {
			t.Errorf("segmentBase(segmentKey(%d)) = %d, %v", base, got, ok)
		}
	}
}

func TestSegmentBaseRefuses(t *testing.T) {
	t.Parallel()
	for _, key := range []string{
		"data/abc/3/" + fmt.Sprintf("%020d", int64(maxOffset)+1), // beyond any offset
		"data/abc/3/+0000000000000000007",
		"data/abc/3/-0000000000000000007",
		"data/abc/3/0000000000000000007x",
		"data/abc/3/000000000000000007", // 18 digits
		"data/abc/3/",
		"00000000000000000007", // no slash
	} {
		if base, ok := segmentBase(key); ok {
			t.Errorf("segmentBase(%q) = %d, true", key, base)
		}
	}
}
