package objectstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressedRecords bounds the decompressed records section of one
// batch, so a small hostile batch cannot make the broker allocate without
// limit.
const maxDecompressedRecords = 64 << 20

// attrLogAppendTime is the batch attribute bit saying the broker, not the
// producer, stamped the batch: every record's time is MaxTimestamp.
const attrLogAppendTime = 0x08

// Compression codecs, from attributes&attrCompressionMask.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// minRecordSize is the smallest encoded record: a one-byte length and six
// one-byte fields (attributes, timestamp delta, offset delta, key length,
// value length, header count).
const minRecordSize = 7

// recordTimestamps decodes the records of one stored v2 batch (raw is the
// whole batch, header included, as produced by a Kafka client: possibly
// compressed with gzip, snappy, lz4 or zstd) and returns each record's
// absolute offset (BaseOffset+offsetDelta) and timestamp
// (BaseTimestamp+timestampDelta; if the batch's timestamp type bit 0x08
// (LogAppendTime) is set, every record's timestamp is MaxTimestamp).
//
// Offsets come back strictly increasing and within the batch's offset range.
// The CRC is not checked: the batch was validated when it was produced. Any
// malformed input yields an error wrapping ErrCorruptBatch (or
// ErrUnsupportedMagic), never a panic.
func recordTimestamps(raw []byte) (offsets, timestamps []int64, err error) {
	return decodeRecordTimestamps(raw, maxDecompressedRecords)
}

// decodeRecordTimestamps is recordTimestamps with the decompressed size
// bound as a parameter, so tests can exercise it cheaply.
func decodeRecordTimestamps(raw []byte, maxSize int) (offsets, timestamps []int64, err error) {
	h, err := parseBatchHeader(raw)
	if err != nil {
		return nil, nil, err
	}
	if h.Magic != 2 {
		return nil, nil, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, h.Magic)
	}
	if h.size() != len(raw) {
		return nil, nil, fmt.Errorf("%w: %d bytes after the batch", ErrCorruptBatch, len(raw)-h.size())
	}
	if h.NumRecords < 0 || h.LastOffsetDelta < 0 {
		return nil, nil, fmt.Errorf("%w: %d records with last offset delta %d", ErrCorruptBatch, h.NumRecords, h.LastOffsetDelta)
	}
	if h.BaseOffset < 0 || h.BaseOffset > math.MaxInt64-int64(h.LastOffsetDelta) {
		return nil, nil, fmt.Errorf("%w: base offset %d with last offset delta %d", ErrCorruptBatch, h.BaseOffset, h.LastOffsetDelta)
	}
	records, err := decompressRecords(int(h.Attributes&attrCompressionMask), raw[batchHeaderSize:], maxSize)
	if err != nil {
		return nil, nil, err
	}
	// Bound the count by the bytes present before allocating for it.
	if int64(h.NumRecords) > int64(len(records)/minRecordSize) {
		return nil, nil, fmt.Errorf("%w: %d records claimed in %d bytes", ErrCorruptBatch, h.NumRecords, len(records))
	}
	offsets = make([]int64, 0, h.NumRecords)
	timestamps = make([]int64, 0, h.NumRecords)
	logAppendTime := h.Attributes&attrLogAppendTime != 0
	prevDelta := int64(-1)
	for i := range int(h.NumRecords) {
		var tsDelta, offDelta int64
		tsDelta, offDelta, records, err = readRecord(records)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: record %d: %s", ErrCorruptBatch, i, err)
		}
		if offDelta <= prevDelta || offDelta > int64(h.LastOffsetDelta) {
			return nil, nil, fmt.Errorf("%w: record %d: offset delta %d after %d, last offset delta %d", ErrCorruptBatch, i, offDelta, prevDelta, h.LastOffsetDelta)
		}
		prevDelta = offDelta
		offsets = append(offsets, h.BaseOffset+offDelta)
		if logAppendTime {
			timestamps = append(timestamps, h.MaxTimestamp)
		} else {
			timestamps = append(timestamps, h.BaseTimestamp+tsDelta)
		}
	}
	if len(records) != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes after %d records", ErrCorruptBatch, len(records), h.NumRecords)
	}
	return offsets, timestamps, nil
}

// readRecord parses the record at the start of b and returns its timestamp
// and offset deltas and the bytes after it. Its errors are bare
// descriptions; the caller adds ErrCorruptBatch and the record's index.
func readRecord(b []byte) (tsDelta, offDelta int64, rest []byte, err error) {
	length, b, err := readVarint(b, math.MaxInt32, "length")
	if err != nil {
		return 0, 0, nil, err
	}
	if length < minRecordSize-1 || length > int64(len(b)) {
		return 0, 0, nil, fmt.Errorf("length %d with %d bytes left", length, len(b))
	}
	r, rest := b[:length], b[length:]
	r = r[1:] // attributes: unused
	if tsDelta, r, err = readVarint(r, math.MaxInt64, "timestamp delta"); err != nil {
		return 0, 0, nil, err
	}
	if offDelta, r, err = readVarint(r, math.MaxInt32, "offset delta"); err != nil {
		return 0, 0, nil, err
	}
	if r, err = skipBytes(r, "key"); err != nil {
		return 0, 0, nil, err
	}
	if r, err = skipBytes(r, "value"); err != nil {
		return 0, 0, nil, err
	}
	headers, r, err := readVarint(r, math.MaxInt32, "header count")
	if err != nil {
		return 0, 0, nil, err
	}
	// A header is at least two bytes: its key and value lengths.
	if headers < 0 || headers > int64(len(r)/2) {
		return 0, 0, nil, fmt.Errorf("%d headers in %d bytes", headers, len(r))
	}
	for range headers {
		// Header keys are strings and may not be null.
		var n int64
		if n, r, err = readVarint(r, math.MaxInt32, "header key length"); err != nil {
			return 0, 0, nil, err
		}
		if n < 0 || n > int64(len(r)) {
			return 0, 0, nil, fmt.Errorf("header key length %d with %d bytes left", n, len(r))
		}
		r = r[n:]
		if r, err = skipBytes(r, "header value"); err != nil {
			return 0, 0, nil, err
		}
	}
	if len(r) != 0 {
		return 0, 0, nil, fmt.Errorf("%d bytes past the fields of a %d-byte record", len(r), length)
	}
	return tsDelta, offDelta, rest, nil
}

// readVarint reads a zigzag varint from the start of b that must lie in
// [-limit-1, limit] (Kafka's varint is an int32, its varlong an int64).
func readVarint(b []byte, limit int64, what string) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("bad %s varint", what)
	}
	if v > limit || v < -limit-1 {
		return 0, nil, fmt.Errorf("%s %d out of range", what, v)
	}
	return v, b[n:], nil
}

// skipBytes skips a varint-length-prefixed byte string at the start of b,
// where length -1 means null.
func skipBytes(b []byte, what string) ([]byte, error) {
	n, b, err := readVarint(b, math.MaxInt32, what+" length")
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return b, nil
	}
	if n < 0 || n > int64(len(b)) {
		return nil, fmt.Errorf("%s length %d with %d bytes left", what, n, len(b))
	}
	return b[n:], nil
}

// decompressRecords returns the records section src decoded with codec,
// failing if it would decode to more than maxSize bytes. With no codec it
// returns src itself.
func decompressRecords(codec int, src []byte, maxSize int) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch codec {
	case codecNone:
		return src, nil
	case codecGzip:
		out, err = decompressGzip(src, maxSize)
	case codecSnappy:
		out, err = decompressSnappy(src, maxSize)
	case codecLZ4:
		out, err = readAllBounded(lz4.NewReader(bytes.NewReader(src)), maxSize)
	case codecZstd:
		out, err = decompressZstd(src, maxSize)
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorruptBatch, codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decompress codec %d: %w", ErrCorruptBatch, codec, err)
	}
	return out, nil
}

// errTooLarge reports a records section that decompresses past the bound.
type errTooLarge int

func (e errTooLarge) Error() string {
	return fmt.Sprintf("decompresses to more than %d bytes", int(e))
}

// readAllBounded reads r to its end, failing past maxSize bytes.
func readAllBounded(r io.Reader, maxSize int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(maxSize)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxSize {
		return nil, errTooLarge(maxSize)
	}
	return out, nil
}

func decompressGzip(src []byte, maxSize int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readAllBounded(zr, maxSize)
}

// xerialMagic opens snappy in the xerial framing that the Java client (and
// librdkafka, for compatibility) writes: the magic, a version and a minimum
// compatible version (int32 each), then blocks of a big-endian int32 length
// and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// decompressSnappy decodes xerial-framed or raw block snappy. Every block's
// claimed decoded length is checked against maxSize before anything is
// allocated for it.
func decompressSnappy(src []byte, maxSize int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxSize {
			return nil, errTooLarge(maxSize)
		}
		return snappy.Decode(nil, src)
	}
	if len(src) < xerialHeaderSize {
		return nil, fmt.Errorf("xerial header truncated at %d bytes", len(src))
	}
	// Frame the blocks and total their claimed sizes first, so the output
	// is allocated once and never past the bound.
	var blocks [][]byte
	total := 0
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("xerial block length truncated")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("xerial block of %d bytes with %d left", n, len(rest))
		}
		block := rest[:n]
		rest = rest[n:]
		dn, err := snappy.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if dn > maxSize-total {
			return nil, errTooLarge(maxSize)
		}
		total += dn
		blocks = append(blocks, block)
	}
	out := make([]byte, 0, total)
	for _, block := range blocks {
		// Decode writes into the spare capacity, which fits the block's
		// claimed length; the checked claim is exactly what it writes.
		d, err := snappy.Decode(out[len(out):cap(out)], block)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// decompressZstd decodes with a decoder of its own: the size bound is a
// decoder option, and the decoder rejects a frame that claims or grows past
// it before allocating for it.
func decompressZstd(src []byte, maxSize int) ([]byte, error) {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(maxSize)),
	)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out, err := dec.DecodeAll(src, nil)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, fmt.Errorf("%w: %w", errTooLarge(maxSize), err)
	}
	if err != nil {
		return nil, err
	}
	if len(out) > maxSize {
		return nil, errTooLarge(maxSize)
	}
	return out, nil
}
