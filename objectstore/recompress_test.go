package objectstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestRecompress turns batches of every codec (as franz-go, the Java
// client and librdkafka frame them) into every codec a topic can ask
// for: the result is a valid batch (CRC, length) with the target codec,
// the same header otherwise, and the same records.
func TestRecompress(t *testing.T) {
	t.Parallel()
	e := New(nil, Options{})
	targets := map[string]int{"uncompressed": codecNone, "gzip": codecGzip, "snappy": codecSnappy, "lz4": codecLZ4, "zstd": codecZstd}
	for _, set := range [][]testRecord{sampleRecords(), manyRecords()} {
		records := encodeRecords(set)
		for _, c := range codecs {
			spec := batchSpec{baseOffset: 0, baseTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_999_999, lastOffsetDelta: -1, numRecords: -1}
			raw := buildBatch(t, spec, c, set)
			h, err := validateProducedBatch(raw)
			if err != nil {
				t.Fatal(err)
			}
			for name, codec := range targets {
				t.Run(c.name+"/to-"+name, func(t *testing.T) {
					out, oh, err := e.recompress(context.Background(), bytes.Clone(raw), h, codec, 1<<30)
					if err != nil {
						t.Fatal(err)
					}
					vh, err := validateProducedBatch(out)
					if err != nil {
						t.Fatalf("recompressed batch: %v", err)
					}
					if vh != oh {
						t.Errorf("returned header %+v, stored %+v", oh, vh)
					}
					if got := int(vh.Attributes & attrCompressionMask); got != codec {
						t.Errorf("codec %d, want %d", got, codec)
					}
					want := h
					want.Attributes, want.Length, want.CRC = vh.Attributes, vh.Length, vh.CRC
					if vh != want {
						t.Errorf("header %+v, want %+v but for codec, length and CRC", vh, want)
					}
					got, err := decompressRecords(codec, out[batchHeaderSize:], maxDecompressedRecords)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, records) {
						t.Fatal("records differ after recompression")
					}
					if _, _, err := recordTimestamps(out); err != nil {
						t.Fatalf("records of the recompressed batch: %v", err)
					}
				})
			}
		}
	}
}

// TestRecompressRefusesWhatOutgrowsTheLimit: a batch that, compressed
// anew, would be larger than max.message.bytes, or that decompresses past
// what recompression holds, is ErrMessageTooLarge (the producer splits
// it), not kept: a few KB of zstd must not become 60 MB stored.
func TestRecompressRefusesWhatOutgrowsTheLimit(t *testing.T) {
	t.Parallel()
	e := New(nil, Options{})
	var big []testRecord // 8 MiB: within what recompression decompresses
	for range 8 {
		big = append(big, testRecord{value: bytes.Repeat([]byte("z"), 1<<20)})
	}
	zstdCodec := codecs[5]
	if zstdCodec.name != "zstd" {
		t.Fatalf("codecs[5] is %s", zstdCodec.name)
	}
	raw := buildBatch(t, batchSpec{lastOffsetDelta: -1, numRecords: -1}, zstdCodec, big)
	h, err := validateProducedBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		codec int
		limit int64
	}{
		{"uncompressed, past max.message.bytes", codecNone, 1 << 20},
		{"gzip, past max.message.bytes", codecGzip, 4 << 10}, // 8 MiB of z: some 8 KB
		{"lz4, decompressing past the bound", codecLZ4, 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := big
			if tt.codec == codecLZ4 {
				for range 12 { // 20 MiB: past maxRecompressedRecords
					records = append(records, testRecord{value: bytes.Repeat([]byte("y"), 1<<20)})
				}
			}
			raw := raw
			if tt.codec == codecLZ4 {
				raw = buildBatch(t, batchSpec{lastOffsetDelta: -1, numRecords: -1}, zstdCodec, records)
				if h, err = validateProducedBatch(raw); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := e.recompress(context.Background(), raw, h, tt.codec, tt.limit); !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("recompress %d bytes: %v, want ErrMessageTooLarge", len(raw), err)
			}
		})
	}
}
