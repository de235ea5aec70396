package objectstore

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors from the idempotent-producer checks.
var (
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
)

// producerWindow is how many recent batches per producer are remembered for
// duplicate detection: Kafka's max.in.flight.requests.per.connection limit
// for idempotent producers.
const producerWindow = 5

// producerBatch is one appended batch of an idempotent producer.
type producerBatch struct {
	firstSeq, lastSeq int32
	baseOffset        int64
	// appendTime is the LogAppendTime the batch was stored with, -1 if
	// it kept the producer's times: what a retry of it is answered.
	appendTime int64
}

// producerState is what a partition remembers of one producer id.
type producerState struct {
	epoch    int16
	batches  []producerBatch // oldest first, at most producerWindow
	lastSeen time.Time       // when a batch of it was last appended or read
}

// producerTable holds a partition's producer states. It is rebuilt from the
// newest objects of the partition when a broker first touches it, so a
// producer retrying a batch after a broker restart is still deduplicated.
type producerTable map[int64]producerState

// check decides what to do with an idempotent batch: append it (dup false),
// answer with the offset it already has (dup true), or reject it.
func (t producerTable) check(h batchHeader) (dupOffset int64, dup bool, err error) {
	b, dup, err := t.duplicateOf(h)
	return b.baseOffset, dup, err
}

// duplicateOf is check, returning the stored batch a retry duplicates.
func (t producerTable) duplicateOf(h batchHeader) (stored producerBatch, dup bool, err error) {
	if !h.idempotent() {
		return producerBatch{}, false, nil
	}
	st, ok := t[h.ProducerID]
	if !ok {
		// Unknown producer: its state was never seen or has aged out of
		// the objects we read. Accept, as Kafka does after KIP-360.
		return producerBatch{}, false, nil
	}
	switch {
	case h.ProducerEpoch < st.epoch:
		return producerBatch{}, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, st.epoch)
	case h.ProducerEpoch > st.epoch:
		if h.BaseSequence != 0 {
			return producerBatch{}, false, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, not 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return producerBatch{}, false, nil
	}
	for _, b := range st.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.lastSequence() {
			return b, true, nil
		}
	}
	if n := len(st.batches); n > 0 {
		want := int32((int64(st.batches[n-1].lastSeq) + 1) % (1 << 31))
		if h.BaseSequence != want {
			return producerBatch{}, false, fmt.Errorf("%w: producer %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, want)
		}
	}
	return producerBatch{}, false, nil
}

// mayHaveOlder reports whether h could be the retry of a batch that the
// table does not remember because it was rebuilt from the newest objects
// only: h's producer is unknown and h does not start its sequence, or h is
// older than every batch remembered of its producer while fewer than
// producerWindow are. A producer's very first batch on a partition (an
// unknown producer at sequence 0) is taken as new: looking back for every
// new producer would cost a scan of the partition each time.
func (t producerTable) mayHaveOlder(h batchHeader) bool {
	st, ok := t[h.ProducerID]
	if !ok {
		return h.BaseSequence != 0
	}
	if h.ProducerEpoch != st.epoch || len(st.batches) == 0 || len(st.batches) >= producerWindow {
		return false
	}
	return h.BaseSequence < st.batches[0].firstSeq
}

// mergeOlder adds what an older stretch of the log says of a producer to
// what the table knows from newer objects: the newer state wins, and older
// batches of its epoch fill its window up to producerWindow.
func (t producerTable) mergeOlder(pid int64, older producerState) {
	st, ok := t[pid]
	switch {
	case !ok:
		t[pid] = older
	case st.epoch == older.epoch && len(st.batches) < producerWindow:
		batches := append(slices.Clone(older.batches), st.batches...)
		st.batches = batches[max(0, len(batches)-producerWindow):]
		t[pid] = st
	}
}

// record notes that h was appended at baseOffset.
func (t producerTable) record(h batchHeader, baseOffset int64) {
	if !h.idempotent() {
		return
	}
	st := t[h.ProducerID]
	if h.ProducerEpoch != st.epoch {
		st = producerState{epoch: h.ProducerEpoch}
	}
	// Copy so that a table cloned for a tentative flush never shares a
	// backing array with the committed one.
	batches := make([]producerBatch, 0, producerWindow)
	if len(st.batches) >= producerWindow {
		batches = append(batches, st.batches[len(st.batches)-producerWindow+1:]...)
	} else {
		batches = append(batches, st.batches...)
	}
	appendTime := int64(-1)
	if h.Attributes&attrLogAppendTime != 0 {
		appendTime = h.MaxTimestamp
	}
	st.batches = append(batches, producerBatch{firstSeq: h.BaseSequence, lastSeq: h.lastSequence(), baseOffset: baseOffset, appendTime: appendTime})
	st.lastSeen = time.Now()
	t[h.ProducerID] = st
}

// expire forgets the producers not seen since before, as Kafka does after
// producer.id.expiration.ms, so that a partition written by many
// short-lived producers does not remember each of them for ever.
func (t producerTable) expire(before time.Time) {
	for pid, st := range t {
		if st.lastSeen.Before(before) {
			delete(t, pid)
		}
	}
}

// recordObject notes every idempotent batch of a stored object.
func (t producerTable) recordObject(data []byte) error {
	return eachBatch(data, func(h batchHeader, _ []byte) bool {
		t.record(h, h.BaseOffset)
		return true
	})
}
