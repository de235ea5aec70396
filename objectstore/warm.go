package objectstore

import (
	"context"
	"time"

	"github.com/siestamq/siesta/internal/bounded"
)

// warmPartitions bounds the partitions one Warm call loads.
const warmPartitions = 64

// warmTimeout bounds a load Warm started: a few round trips to the bucket
// normally, seconds with retries.
const warmTimeout = 10 * time.Second

// Warm starts loading, in the background, the partitions of topics that
// this broker has not loaded (at most warmPartitions of them). A client
// that asked for a topic's metadata produces to it or fetches from it
// next; on a woken broker the loads then overlap the client's next
// requests (InitProducerID, joining its consumer group) instead of
// following them. A request that needs a partition meanwhile waits for its
// load instead of starting another; a load that fails is left for the
// next request to retry.
func (e *Engine) Warm(topics []Topic) {
	var cold []*partition
	for _, t := range topics {
		for i := int32(0); i < t.Partitions && len(cold) < warmPartitions; i++ {
			p, err := e.partition(t, i)
			if err != nil {
				continue
			}
			p.mu.Lock()
			if !p.loaded && !p.warming {
				p.warming = true
				cold = append(cold, p)
			}
			p.mu.Unlock()
		}
	}
	if len(cold) == 0 {
		return
	}
	e.background.Go(func() {
		// A load holds its partition's tail lock, which the client's own
		// requests then wait for (as long as their contexts allow): a
		// load that no request asked for gives up after warmTimeout, and
		// the first request that needs the partition loads it.
		ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
		defer cancel()
		bounded.Run(len(cold), parallelReads, func(i int) {
			p := cold[i]
			if err := p.ensureLoaded(ctx); err != nil {
				e.log.Debug("warming partition", "topic_id", p.id.topicID, "partition", p.id.partition, "err", err)
			}
			p.mu.Lock()
			p.warming = false
			p.mu.Unlock()
		})
	})
}
