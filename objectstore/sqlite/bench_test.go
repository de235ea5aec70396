package sqlite

import (
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkPutIfAbsent measures creates of new keys, one writer at a time,
// with each synchronous setting: with full every op includes an fsync.
func BenchmarkPutIfAbsent(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, mode := range []Synchronous{SyncFull, SyncNormal} {
			b.Run(fmt.Sprintf("size=%dKiB/sync=%s", size>>10, mode), func(b *testing.B) {
				bucket := openTemp(b, Options{Synchronous: mode})
				data := make([]byte, size)
				rand.Read(data)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := bucket.PutIfAbsent(b.Context(), fmt.Sprintf("data/%020d", i), data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
