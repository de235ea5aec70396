package objectstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// A topic's compression.type other than "producer" is the codec its
// batches are stored in, as in Kafka: a batch produced in another codec
// is decompressed and compressed again before it is queued (the records
// themselves, their offsets, timestamps and sequences, stay as sent).

// topicCodecs maps compression.type values to codecs; "producer" (the
// default) is absent: batches are kept as sent.
var topicCodecs = map[string]int{
	"uncompressed": codecNone,
	"gzip":         codecGzip,
	"snappy":       codecSnappy,
	"lz4":          codecLZ4,
	"zstd":         codecZstd,
}

// storedCodec returns the codec a topic stores batches in, and false when
// it keeps each batch's own.
func storedCodec(configs map[string]string) (int, bool) {
	codec, ok := topicCodecs[configs["compression.type"]]
	return codec, ok
}

// maxRecompressedRecords bounds a batch's records section decompressed
// for recompression. A batch is held decompressed only while it is
// compressed again, and recompressions run parallelRecompressions at a
// time, so this and that bound the memory they take together.
const (
	maxRecompressedRecords = 16 << 20
	parallelRecompressions = 2
)

// recompress returns batch (one validated v2 batch with header h) with
// its records section in codec, and the new header. A batch that
// decompresses past maxRecompressedRecords (or, to be stored
// uncompressed, past limit), or is larger than limit once compressed
// again, is ErrMessageTooLarge, as Kafka answers a batch that outgrows
// max.message.bytes in its conversion: a producer splits it and sends it
// again (a retriable error would have it sent as it is, for ever).
func (e *Engine) recompress(ctx context.Context, batch []byte, h batchHeader, codec int, limit int64) ([]byte, batchHeader, error) {
	select {
	case e.recompressions <- struct{}{}:
		defer func() { <-e.recompressions }()
	case <-ctx.Done():
		return nil, h, ctx.Err()
	}
	bound := maxRecompressedRecords
	if codec == codecNone {
		bound = int(min(int64(bound), max(0, limit-batchHeaderSize)))
	}
	records, err := decompressRecords(int(h.Attributes&attrCompressionMask), batch[batchHeaderSize:], bound)
	var tooLarge errTooLarge
	if errors.As(err, &tooLarge) {
		return nil, h, fmt.Errorf("%w: the batch %s, too large to store in the topic's compression.type", ErrMessageTooLarge, tooLarge)
	}
	if err != nil {
		return nil, h, err
	}
	encoded, err := e.compressRecords(codec, records)
	if err != nil {
		return nil, h, fmt.Errorf("compress for the topic's compression.type: %w", err)
	}
	if size := int64(batchHeaderSize + len(encoded)); size > limit {
		return nil, h, fmt.Errorf("%w: batch of %d bytes in the topic's compression.type, max.message.bytes is %d", ErrMessageTooLarge, size, limit)
	}
	out := make([]byte, batchHeaderSize, batchHeaderSize+len(encoded))
	copy(out, batch[:batchHeaderSize])
	out = append(out, encoded...)
	h.Attributes = h.Attributes&^attrCompressionMask | int16(codec)
	h.Length = int32(len(out) - 12)
	binary.BigEndian.PutUint32(out[8:], uint32(h.Length))
	binary.BigEndian.PutUint16(out[21:], uint16(h.Attributes))
	h.CRC = crc32.Checksum(out[21:], castagnoli)
	binary.BigEndian.PutUint32(out[17:], h.CRC)
	return out, h, nil
}

// compressRecords encodes a records section in codec, as Kafka's Java
// client does: gzip, snappy in the xerial framing, the LZ4 frame format
// with 64 KiB blocks, zstd frames.
func (e *Engine) compressRecords(codec int, records []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case codecNone:
		return records, nil
	case codecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(records); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case codecSnappy:
		return xerialEncode(records), nil
	case codecLZ4:
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		if _, err := w.Write(records); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case codecZstd:
		enc, err := e.zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(records, nil), nil
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	return buf.Bytes(), nil
}

// xerialBlock is the xerial framing's block size (snappy-java's default).
const xerialBlock = 32 << 10

// xerialEncode frames snappy the way snappy-java's SnappyOutputStream
// does, which every Kafka client reads: the magic, version 1 and minimum
// compatible version 1, then blocks of a big-endian length and a raw
// snappy block of up to 32 KiB of input.
func xerialEncode(src []byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(src) > 0 {
		n := min(len(src), xerialBlock)
		block := snappy.Encode(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

// newZstdEncoder makes the engine's zstd encoder, on first use
// (Engine.zstdEncoder): it holds buffers that a broker whose topics never
// ask for zstd, and a broker starting, should not pay for. EncodeAll may
// be called concurrently.
func newZstdEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(parallelRecompressions))
}
