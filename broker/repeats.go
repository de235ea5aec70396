package broker

import (
	"errors"
	"fmt"
)

// errRepeated marks an item named more than once in one admin request.
var errRepeated = errors.New("appears more than once in the request")

// eachOnce calls fn once for each distinct key of items, in the order
// keys first appear, as Kafka answers batched admin requests: a key named
// more than once is answered once, with an error wrapping errRepeated
// (INVALID_REQUEST) instead of being acted on.
func eachOnce[T any, K comparable](items []T, key func(T) K, fn func(item T, repeated error)) {
	count := make(map[K]int, len(items))
	for _, it := range items {
		count[key(it)]++
	}
	for _, it := range items {
		k := key(it)
		switch n := count[k]; {
		case n > 1:
			fn(it, fmt.Errorf("%v: %w (%d times)", k, errRepeated, n))
			count[k] = 0
		case n == 1:
			fn(it, nil)
		}
	}
}
