package objectstore

import (
	"bytes"
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
					out, oh, err := e.recompress(bytes.Clone(raw), h, codec)
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
