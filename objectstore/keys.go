package objectstore

import (
	"fmt"
	"math"
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
//	timeindex/<topic-id>/<p>/<base>-<end>-<max timestamp>
//	                                 a time index entry, no body (timeindex.go)
//
// Data is keyed by topic id, not name, so a topic deleted and created again
// never sees the old topic's objects.
const (
	clusterKey     = "cluster"
	producerIDKey  = "producers/next"
	topicsPrefix   = "topics/"
	dataPrefix     = "data/"
	logStartPrefix = "logstart/"
	timePrefix     = "timeindex/"
)

func topicKey(name string) string { return topicsPrefix + name }

func partitionPrefix(topicID string, partition int32) string {
	return dataPrefix + topicID + "/" + strconv.Itoa(int(partition)) + "/"
}

// segmentKey is on every append's path, so it is built without fmt.
func segmentKey(topicID string, partition int32, base int64) string {
	digits := strconv.AppendInt(make([]byte, 0, 20), base, 10)
	key := make([]byte, 0, len(dataPrefix)+len(topicID)+32)
	key = append(key, dataPrefix...)
	key = append(key, topicID...)
	key = append(key, '/')
	key = strconv.AppendInt(key, int64(partition), 10)
	key = append(key, '/')
	for range 20 - len(digits) {
		key = append(key, '0')
	}
	return string(append(key, digits...))
}

func logStartKey(topicID string, partition int32) string {
	return fmt.Sprintf("%s%s/%d", logStartPrefix, topicID, partition)
}

func timeIndexPrefix(topicID string, partition int32) string {
	return timePrefix + topicID + "/" + strconv.Itoa(int(partition)) + "/"
}

// timeEntryKey names a time index entry: its offsets as 20 digits each, so
// that entries sort by offset, and its timestamp.
func timeEntryKey(topicID string, partition int32, te timeEntry) string {
	return fmt.Sprintf("%s%020d-%020d-%d", timeIndexPrefix(topicID, partition), te.base, te.end, te.maxTimestamp)
}

// parseTimeEntry reads a time index entry from its key under prefix.
func parseTimeEntry(prefix, key string) (timeEntry, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || len(rest) < 43 || rest[20] != '-' || rest[41] != '-' {
		return timeEntry{}, false
	}
	base, okBase := parseOffset(rest[:20])
	end, okEnd := parseOffset(rest[21:41])
	ts, err := strconv.ParseInt(rest[42:], 10, 64)
	if !okBase || !okEnd || err != nil || base >= end {
		return timeEntry{}, false
	}
	return timeEntry{base: base, end: end, maxTimestamp: ts}, true
}

// segmentBase parses the base offset out of a segment key: 20 digits after
// the last slash, no more than maxOffset.
func segmentBase(key string) (int64, bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return 0, false
	}
	return parseOffset(key[i+1:])
}

// parseOffset parses an offset written as 20 digits, no more than
// maxOffset.
func parseOffset(s string) (int64, bool) {
	if len(s) != 20 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > maxOffset {
			return 0, false
		}
	}
	return n, true
}

// maxOffset is beyond any offset a partition can reach.
const maxOffset = math.MaxInt64 / 4
