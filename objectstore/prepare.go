package objectstore

import (
	"context"

	"github.com/siestamq/siesta/internal/bounded"
)

// PartitionRead names one partition a fetch reads, and from where.
type PartitionRead struct {
	Topic     Topic
	Partition int32
	Offset    int64
}

// PrepareReads makes at once, parallelReads at a time, the bucket requests
// that Read would make for each partition before reading it: loading a
// partition this broker has not touched yet (a woken broker's first fetch),
// and looking for other brokers' appends at the tail of a partition read
// at its end, once a TailRefresh. A fetch reads its partitions one after
// another to share out its byte limit; without this, a consumer of many
// partitions waits a round trip to the bucket per partition for each.
// Errors are left for Read to meet and report.
func (e *Engine) PrepareReads(ctx context.Context, reads []PartitionRead) {
	var todo []func()
	for _, r := range reads {
		p, err := e.partition(r.Topic, r.Partition)
		if err != nil {
			continue
		}
		p.mu.Lock()
		load := !p.loaded
		refresh := !load && r.Offset >= p.next && olderThan(p.refreshed, p.e.opts.TailRefresh)
		p.mu.Unlock()
		if !load && !refresh {
			continue
		}
		todo = append(todo, func() {
			if err := p.ensureLoaded(ctx); err != nil {
				return
			}
			p.mu.Lock()
			atTail := r.Offset >= p.next
			p.mu.Unlock()
			if atTail {
				p.maybeRefresh(ctx)
			}
		})
	}
	bounded.Run(len(todo), parallelReads, func(i int) { todo[i]() })
}
