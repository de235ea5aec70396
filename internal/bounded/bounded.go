// Package bounded runs a number of calls concurrently, a bounded number
// at a time.
package bounded

import "sync"

// Run calls fn(0) to fn(n-1), at most limit at a time, each on its own
// goroutine, and returns when all have returned. A single call runs on the
// caller's goroutine.
func Run(n, limit int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	sem := make(chan struct{}, max(1, limit))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
