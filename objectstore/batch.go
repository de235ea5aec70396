package objectstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Errors describing a record batch that a producer sent. The broker maps
// each to its Kafka error code.
var (
	// ErrCorruptBatch means the batch framing or CRC is wrong.
	ErrCorruptBatch = errors.New("corrupt record batch")
	// ErrUnsupportedMagic means the batch is not a v2 (magic 2) batch.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
	// ErrInvalidRecord means the batch is well formed but not acceptable,
	// for example a transactional or control batch, or several batches.
	ErrInvalidRecord = errors.New("invalid record batch")
	// ErrMessageTooLarge means the batch is larger than the topic's
	// max.message.bytes.
	ErrMessageTooLarge = errors.New("record batch too large")
)

// batchHeaderSize is the fixed size of a v2 record batch header.
const batchHeaderSize = 61

// batch attribute bits.
const (
	attrCompressionMask = 0x07
	attrTransactional   = 0x10
	attrControl         = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the part of a v2 record batch header the engine uses.
type batchHeader struct {
	BaseOffset      int64
	Length          int32 // bytes after the length field
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// size is the whole batch's size in bytes.
func (h batchHeader) size() int { return 12 + int(h.Length) }

// lastOffset is the offset of the batch's last record.
func (h batchHeader) lastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// idempotent reports whether the batch carries a producer id and sequence.
func (h batchHeader) idempotent() bool { return h.ProducerID >= 0 && h.BaseSequence >= 0 }

// lastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka does.
func (h batchHeader) lastSequence() int32 {
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (1 << 31))
}

// parseBatchHeader reads the header at the start of b without validating
// the CRC. It fails if b is shorter than the header or the length field says
// the batch runs past the end of b.
func parseBatchHeader(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, fmt.Errorf("%w: %d bytes, shorter than a batch header", ErrCorruptBatch, len(b))
	}
	h := batchHeader{
		BaseOffset:      int64(binary.BigEndian.Uint64(b[0:])),
		Length:          int32(binary.BigEndian.Uint32(b[8:])),
		Magic:           int8(b[16]),
		CRC:             binary.BigEndian.Uint32(b[17:]),
		Attributes:      int16(binary.BigEndian.Uint16(b[21:])),
		LastOffsetDelta: int32(binary.BigEndian.Uint32(b[23:])),
		BaseTimestamp:   int64(binary.BigEndian.Uint64(b[27:])),
		MaxTimestamp:    int64(binary.BigEndian.Uint64(b[35:])),
		ProducerID:      int64(binary.BigEndian.Uint64(b[43:])),
		ProducerEpoch:   int16(binary.BigEndian.Uint16(b[51:])),
		BaseSequence:    int32(binary.BigEndian.Uint32(b[53:])),
		NumRecords:      int32(binary.BigEndian.Uint32(b[57:])),
	}
	if h.Length < batchHeaderSize-12 || int64(h.Length)+12 > int64(len(b)) {
		return batchHeader{}, fmt.Errorf("%w: length %d does not fit %d bytes", ErrCorruptBatch, h.Length, len(b))
	}
	return h, nil
}

// validateProducedBatch checks a partition's records from a Produce request:
// exactly one magic-2 batch, correct CRC, a consistent record count, and no
// transactional or control flags (siesta does not serve transactions).
func validateProducedBatch(b []byte) (batchHeader, error) {
	if len(b) >= 17 && b[16] != 2 {
		return batchHeader{}, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(b[16]))
	}
	h, err := parseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.size() != len(b) {
		return h, fmt.Errorf("%w: %d bytes after the first batch; send one batch per partition", ErrInvalidRecord, len(b)-h.size())
	}
	if got := crc32.Checksum(b[21:h.size()], castagnoli); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, want %08x", ErrCorruptBatch, got, h.CRC)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: %d records with last offset delta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta)
	}
	if h.Attributes&(attrTransactional|attrControl) != 0 {
		return h, fmt.Errorf("%w: transactional and control batches are not supported", ErrInvalidRecord)
	}
	return h, nil
}

// eachBatch calls fn for every batch in data, a concatenation of stored
// batches, stopping early if fn returns false.
func eachBatch(data []byte, fn func(h batchHeader, raw []byte) bool) error {
	for len(data) > 0 {
		h, err := parseBatchHeader(data)
		if err != nil {
			return err
		}
		if !fn(h, data[:h.size()]) {
			return nil
		}
		data = data[h.size():]
	}
	return nil
}

// setLogAppendTime stamps a batch, in place, as appended at ms by the
// broker (a topic with message.timestamp.type=LogAppendTime): the
// timestamp-type attribute and MaxTimestamp, which consumers then report
// as every record's time, as Kafka's broker does. Both are under the CRC,
// which is computed again.
func setLogAppendTime(b []byte, h *batchHeader, ms int64) {
	h.Attributes |= attrLogAppendTime
	h.MaxTimestamp = ms
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes))
	binary.BigEndian.PutUint64(b[35:], uint64(ms))
	h.CRC = crc32.Checksum(b[21:h.size()], castagnoli)
	binary.BigEndian.PutUint32(b[17:], h.CRC)
}

// setBaseOffset rewrites a batch's base offset in place. The CRC does not
// cover the base offset, so the batch stays valid.
func setBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[0:], uint64(offset))
}

// HasZstd reports whether any of the record batches in b is compressed
// with zstd, which Kafka's protocol allows only from Produce v7 (KIP-110).
// It reads batch headers only, and stops at anything that is not one.
func HasZstd(b []byte) bool {
	found := false
	_ = eachBatch(b, func(h batchHeader, _ []byte) bool {
		found = h.Attributes&attrCompressionMask == codecZstd
		return !found
	})
	return found
}
