package objectstore

import (
	"fmt"
	"strconv"
	"strings"
)

// The bucket key layout. Every key the engine writes is built here.
//
//	cluster                          cluster id, created once
//	producers/next                   next unallocated producer id block
//	topics/<name>                    topic metadata (JSON), one per live topic
//	data/<topic-id>/<p>/<offset>     record batches starting at offset (20 digits)
//	logstart/<topic-id>/<p>          the partition's log start offset (JSON)
//
// Data is keyed by topic id, not name, so a topic deleted and created again
// never sees the old topic's objects.
const (
	clusterKey     = "cluster"
	producerIDKey  = "producers/next"
	topicsPrefix   = "topics/"
	dataPrefix     = "data/"
	logStartPrefix = "logstart/"
)

func topicKey(name string) string { return topicsPrefix + name }

func partitionPrefix(topicID string, partition int32) string {
	return fmt.Sprintf("%s%s/%d/", dataPrefix, topicID, partition)
}

func segmentKey(topicID string, partition int32, base int64) string {
	return fmt.Sprintf("%s%020d", partitionPrefix(topicID, partition), base)
}

func logStartKey(topicID string, partition int32) string {
	return fmt.Sprintf("%s%s/%d", logStartPrefix, topicID, partition)
}

// segmentBase parses the base offset out of a segment key.
func segmentBase(key string) (int64, bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 || len(key)-i-1 != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(key[i+1:], 10, 64)
	return n, err == nil
}
