package bounded_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/siestamq/siesta/internal/bounded"
)

func TestRun(t *testing.T) {
	tests := []struct{ n, limit int }{
		{0, 4}, {1, 4}, {3, 1}, {50, 4}, {5, 0},
	}
	for _, tt := range tests {
		var running, most, calls atomic.Int64
		seen := make([]atomic.Bool, tt.n)
		bounded.Run(tt.n, tt.limit, func(i int) {
			calls.Add(1)
			seen[i].Store(true)
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
		})
		if calls.Load() != int64(tt.n) {
			t.Errorf("Run(%d, %d): %d calls", tt.n, tt.limit, calls.Load())
		}
		for i := range seen {
			if !seen[i].Load() {
				t.Errorf("Run(%d, %d): fn(%d) not called", tt.n, tt.limit, i)
			}
		}
		if limit := max(1, int64(tt.limit)); most.Load() > limit {
			t.Errorf("Run(%d, %d): %d at once", tt.n, tt.limit, most.Load())
		}
	}
}
