package objectstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecord is one record to encode: its deltas plus enough payload to
// exercise the fields recordTimestamps must skip.
type testRecord struct {
	tsDelta, offDelta int64
	key, value        []byte // nil encodes as null
	headers           []kmsg.Header
}

// encodeRecords encodes recs back to back as a v2 records section, the way
// franz-go's producer does.
func encodeRecords(recs []testRecord) []byte {
	var out []byte
	for _, r := range recs {
		rec := kmsg.Record{
			TimestampDelta64: r.tsDelta,
			OffsetDelta:      int32(r.offDelta),
			Key:              r.key,
			Value:            r.value,
			Headers:          r.headers,
		}
		// With Length 0 the length varint is one byte; the rest is the body.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		out = rec.AppendTo(out)
	}
	return out
}

// codec compresses a records section and names the attributes codec bits.
type codec struct {
	name     string
	attr     int16
	compress func(t testing.TB, src []byte) []byte
}

// kgoCompress compresses with franz-go's own compressor, byte for byte what
// a franz-go client sends (raw snappy blocks for snappy).
func kgoCompress(c kgo.CompressionCodec) func(testing.TB, []byte) []byte {
	return func(t testing.TB, src []byte) []byte {
		t.Helper()
		comp, err := kgo.DefaultCompressor(c)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := comp.Compress(new(bytes.Buffer), src)
		return slices.Clone(out)
	}
}

// flushedCompress writes src in chunks with a flush after each, as franz-go
// streams records into a growing batch: several gzip deflate blocks, lz4
// blocks or zstd blocks in one stream.
func flushedCompress(newWriter func(io.Writer) interface {
	io.WriteCloser
	Flush() error
}) func(testing.TB, []byte) []byte {
	return func(t testing.TB, src []byte) []byte {
		t.Helper()
		var buf bytes.Buffer
		w := newWriter(&buf)
		for chunk := range slices.Chunk(src, 1000) {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
}

var codecs = []codec{
	{"none", 0, func(_ testing.TB, src []byte) []byte { return src }},
	{"gzip", 1, kgoCompress(kgo.GzipCompression())},
	{"snappy", 2, kgoCompress(kgo.SnappyCompression())},
	// The Java client and librdkafka frame snappy the xerial way.
	{"snappy-xerial", 2, func(_ testing.TB, src []byte) []byte { return xerial.Encode(nil, src) }},
	{"lz4", 3, kgoCompress(kgo.Lz4Compression())},
	{"zstd", 4, kgoCompress(kgo.ZstdCompression())},
	{"gzip-flushed", 1, flushedCompress(func(w io.Writer) interface {
		io.WriteCloser
		Flush() error
	} {
		return gzip.NewWriter(w)
	})},
	{"lz4-flushed", 3, flushedCompress(func(w io.Writer) interface {
		io.WriteCloser
		Flush() error
	} {
		return lz4.NewWriter(w)
	})},
	{"zstd-flushed", 4, flushedCompress(func(w io.Writer) interface {
		io.WriteCloser
		Flush() error
	} {
		enc, err := zstd.NewWriter(w, zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		return enc
	})},
}

// batchSpec describes a batch to build.
type batchSpec struct {
	baseOffset      int64
	baseTimestamp   int64
	maxTimestamp    int64
	attributes      int16 // besides the codec bits
	lastOffsetDelta int32 // -1: derive from the records
	numRecords      int32 // -1: len(records)
}

// buildBatch encodes a v2 batch of recs, with its records section
// compressed by c and a correct CRC.
func buildBatch(t testing.TB, spec batchSpec, c codec, recs []testRecord) []byte {
	t.Helper()
	return buildBatchRaw(spec, c.attr, c.compress(t, encodeRecords(recs)), len(recs))
}

// buildBatchRaw frames an already encoded (and compressed) records section.
func buildBatchRaw(spec batchSpec, codecAttr int16, records []byte, n int) []byte {
	b := kmsg.RecordBatch{
		FirstOffset:     spec.baseOffset,
		Length:          int32(batchHeaderSize - 12 + len(records)),
		Magic:           2,
		Attributes:      spec.attributes | codecAttr,
		LastOffsetDelta: spec.lastOffsetDelta,
		FirstTimestamp:  spec.baseTimestamp,
		MaxTimestamp:    spec.maxTimestamp,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      spec.numRecords,
		Records:         records,
	}
	if b.LastOffsetDelta == -1 {
		b.LastOffsetDelta = int32(n - 1)
	}
	if b.NumRecords == -1 {
		b.NumRecords = int32(n)
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

// sampleRecords has every shape of field: null and empty keys, headers,
// negative and 64-bit timestamp deltas.
func sampleRecords() []testRecord {
	return []testRecord{
		{tsDelta: 0, offDelta: 0, key: nil, value: []byte("v0")},
		{tsDelta: 5, offDelta: 1, key: []byte("k1"), value: nil},
		{tsDelta: -3, offDelta: 2, key: []byte{}, value: []byte{}, headers: []kmsg.Header{
			{Key: "h1", Value: []byte("x")}, {Key: "", Value: nil},
		}},
		{tsDelta: 1 << 40, offDelta: 3, key: bytes.Repeat([]byte("k"), 300), value: bytes.Repeat([]byte("v"), 5000)},
	}
}

// manyRecords is large enough to span several codec blocks (xerial and lz4
// blocks, flushed gzip and zstd blocks).
func manyRecords() []testRecord {
	recs := make([]testRecord, 3000)
	for i := range recs {
		recs[i] = testRecord{
			tsDelta:  int64(i * 7 % 1000),
			offDelta: int64(i),
			key:      fmt.Appendf(nil, "key-%d", i),
			value:    bytes.Repeat([]byte{byte(i)}, 40+i%60),
		}
	}
	return recs
}

func TestRecordTimestamps(t *testing.T) {
	t.Parallel()
	sets := []struct {
		name string
		recs []testRecord
	}{
		{"one", []testRecord{{value: []byte("only")}}},
		{"sample", sampleRecords()},
		{"many", manyRecords()},
	}
	for _, c := range codecs {
		for _, set := range sets {
			t.Run(c.name+"/"+set.name, func(t *testing.T) {
				t.Parallel()
				spec := batchSpec{baseOffset: 1000, baseTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_999_999, lastOffsetDelta: -1, numRecords: -1}
				raw := buildBatch(t, spec, c, set.recs)
				// The helper must build what the produce path accepts.
				if _, err := validateProducedBatch(raw); err != nil {
					t.Fatalf("built batch fails validation: %v", err)
				}
				offsets, timestamps, err := recordTimestamps(raw)
				if err != nil {
					t.Fatal(err)
				}
				if len(offsets) != len(set.recs) || len(timestamps) != len(set.recs) {
					t.Fatalf("got %d offsets and %d timestamps, want %d", len(offsets), len(timestamps), len(set.recs))
				}
				for i, r := range set.recs {
					if want := spec.baseOffset + r.offDelta; offsets[i] != want {
						t.Errorf("record %d: offset %d, want %d", i, offsets[i], want)
					}
					if want := spec.baseTimestamp + r.tsDelta; timestamps[i] != want {
						t.Errorf("record %d: timestamp %d, want %d", i, timestamps[i], want)
					}
				}
			})
		}
	}
}

func TestRecordTimestampsLogAppendTime(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spec := batchSpec{baseOffset: 7, baseTimestamp: 100, maxTimestamp: 5555, attributes: attrLogAppendTime, lastOffsetDelta: -1, numRecords: -1}
			offsets, timestamps, err := recordTimestamps(buildBatch(t, spec, c, sampleRecords()))
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{7, 8, 9, 10}; !slices.Equal(offsets, want) {
				t.Errorf("offsets %v, want %v", offsets, want)
			}
			if want := []int64{5555, 5555, 5555, 5555}; !slices.Equal(timestamps, want) {
				t.Errorf("timestamps %v, want %v", timestamps, want)
			}
		})
	}
}

// TestRecordTimestampsOffsetGaps covers a batch whose offsets skip, as after
// compaction: offsets follow the deltas, not the record index.
func TestRecordTimestampsOffsetGaps(t *testing.T) {
	t.Parallel()
	recs := []testRecord{{offDelta: 0}, {offDelta: 4, tsDelta: 1}, {offDelta: 9, tsDelta: 2}}
	raw := buildBatch(t, batchSpec{baseOffset: 50, baseTimestamp: 10, lastOffsetDelta: 9, numRecords: -1}, codecs[0], recs)
	offsets, timestamps, err := recordTimestamps(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(offsets, []int64{50, 54, 59}) || !slices.Equal(timestamps, []int64{10, 11, 12}) {
		t.Errorf("got offsets %v timestamps %v", offsets, timestamps)
	}
}

func TestRecordTimestampsEmptyBatch(t *testing.T) {
	t.Parallel()
	raw := buildBatchRaw(batchSpec{lastOffsetDelta: 0, numRecords: 0}, 0, nil, 0)
	offsets, timestamps, err := recordTimestamps(raw)
	if err != nil || len(offsets) != 0 || len(timestamps) != 0 {
		t.Errorf("got %v %v %v, want no records", offsets, timestamps, err)
	}
}

// appendVarint appends Kafka's zigzag varint.
func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func TestRecordTimestampsCorrupt(t *testing.T) {
	t.Parallel()
	spec := batchSpec{baseOffset: 1, baseTimestamp: 1, lastOffsetDelta: -1, numRecords: -1}
	good := encodeRecords(sampleRecords())
	valid := buildBatchRaw(spec, 0, good, 4)
	// one record's fields after its length varint, for hand-made records.
	body := func(fields ...[]byte) []byte {
		var b []byte
		for _, f := range fields {
			b = append(b, f...)
		}
		return append(appendVarint(nil, int64(len(b))), b...)
	}
	vi := func(v int64) []byte { return appendVarint(nil, v) }
	attrs := []byte{0}
	overlong := bytes.Repeat([]byte{0xff}, 11) // runs past 64 bits
	unterminated := []byte{0x80, 0x80}

	tests := []struct {
		name    string
		raw     []byte
		wantErr error
	}{
		{"empty", nil, ErrCorruptBatch},
		{"header only, truncated", valid[:40], ErrCorruptBatch},
		{"batch truncated", valid[:len(valid)-1], ErrCorruptBatch},
		{"trailing bytes", append(slices.Clone(valid), 0), ErrCorruptBatch},
		{"magic 1", func() []byte { b := slices.Clone(valid); b[16] = 1; return b }(), ErrUnsupportedMagic},
		{"unknown codec", buildBatchRaw(spec, 5, good, 4), ErrCorruptBatch},
		{"records section truncated", buildBatchRaw(spec, 0, good[:len(good)-1], 4), ErrCorruptBatch},
		{"more records claimed", buildBatchRaw(batchSpec{lastOffsetDelta: 4, numRecords: 5}, 0, good, 5), ErrCorruptBatch},
		{"fewer records claimed", buildBatchRaw(batchSpec{lastOffsetDelta: 2, numRecords: 3}, 0, good, 3), ErrCorruptBatch},
		{"huge record count", buildBatchRaw(batchSpec{lastOffsetDelta: math.MaxInt32 - 1, numRecords: math.MaxInt32}, 0, good, 0), ErrCorruptBatch},
		{"negative record count", buildBatchRaw(batchSpec{lastOffsetDelta: 0, numRecords: -5}, 0, good, 0), ErrCorruptBatch},
		{"negative last offset delta", buildBatchRaw(batchSpec{lastOffsetDelta: -7, numRecords: 4}, 0, good, 4), ErrCorruptBatch},
		{"overlong length varint", buildBatchRaw(spec, 0, append(slices.Clone(overlong), good...), 1), ErrCorruptBatch},
		{"unterminated length varint", buildBatchRaw(spec, 0, append(slices.Clone(good[:0]), unterminated...), 1), ErrCorruptBatch},
		{"huge record length", buildBatchRaw(spec, 0, append(vi(math.MaxInt32), make([]byte, 10)...), 1), ErrCorruptBatch},
		{"record length past int32", buildBatchRaw(spec, 0, append(vi(math.MaxInt32+1), make([]byte, 10)...), 1), ErrCorruptBatch},
		{"negative record length", buildBatchRaw(spec, 0, append(vi(-1), make([]byte, 10)...), 1), ErrCorruptBatch},
		{"bad timestamp varint", buildBatchRaw(spec, 0, body(attrs, overlong, vi(0), vi(-1), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"offset delta past int32", buildBatchRaw(batchSpec{lastOffsetDelta: 0, numRecords: 1}, 0, body(attrs, vi(0), vi(1<<33), vi(-1), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"huge key length", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(math.MaxInt32), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"key length -2", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-2), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"huge value length", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(1<<30), vi(0)), 1), ErrCorruptBatch},
		{"huge header count", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(-1), vi(math.MaxInt32)), 1), ErrCorruptBatch},
		{"negative header count", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(-1), vi(-1)), 1), ErrCorruptBatch},
		{"null header key", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), 1), ErrCorruptBatch},
		{"huge header value", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(0), vi(1<<20)), 1), ErrCorruptBatch},
		{"record longer than its fields", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1), vi(-1), vi(0), []byte{9}), 1), ErrCorruptBatch},
		{"record shorter than its fields", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(0), vi(-1)), 1), ErrCorruptBatch},
		{"offset delta past last", buildBatchRaw(batchSpec{lastOffsetDelta: 0, numRecords: 1}, 0, body(attrs, vi(0), vi(1), vi(-1), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"negative offset delta", buildBatchRaw(spec, 0, body(attrs, vi(0), vi(-1), vi(-1), vi(-1), vi(0)), 1), ErrCorruptBatch},
		{"offset deltas not increasing", buildBatchRaw(spec, 0, encodeRecords([]testRecord{{offDelta: 1}, {offDelta: 1}}), 2), ErrCorruptBatch},
		{"gzip garbage", buildBatchRaw(spec, 1, []byte("not gzip at all"), 4), ErrCorruptBatch},
		{"snappy garbage", buildBatchRaw(spec, 2, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2}, 4), ErrCorruptBatch},
		{"snappy empty", buildBatchRaw(spec, 2, nil, 4), ErrCorruptBatch},
		{"xerial header truncated", buildBatchRaw(spec, 2, xerialMagic, 4), ErrCorruptBatch},
		{"xerial block past end", buildBatchRaw(spec, 2, append(xerial.Encode(nil, good)[:16], 0x7f, 0xff, 0xff, 0xff, 1), 4), ErrCorruptBatch},
		{"xerial length truncated", buildBatchRaw(spec, 2, append(xerial.Encode(nil, good), 0, 0), 4), ErrCorruptBatch},
		{"lz4 garbage", buildBatchRaw(spec, 3, []byte("not an lz4 frame"), 4), ErrCorruptBatch},
		{"zstd garbage", buildBatchRaw(spec, 4, []byte("not a zstd frame"), 4), ErrCorruptBatch},
	}
	// Every codec's output cut short.
	for _, c := range codecs[1:] {
		full := c.compress(t, good)
		tests = append(tests, struct {
			name    string
			raw     []byte
			wantErr error
		}{c.name + " truncated", buildBatchRaw(spec, c.attr, full[:len(full)*2/3], 4), ErrCorruptBatch})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			offsets, timestamps, err := recordTimestamps(tt.raw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v %v %v, want %v", offsets, timestamps, err, tt.wantErr)
			}
		})
	}
}

// TestRecordTimestampsDecompressionBomb checks the bound on every codec:
// a records section one byte over it fails, one at it decodes.
func TestRecordTimestampsDecompressionBomb(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	spec := batchSpec{lastOffsetDelta: 0, numRecords: 1}
	// A single record whose value fills the section to exactly n bytes.
	recordsOf := func(n int) []byte {
		// Varint widths jump, so tune with the key length too.
		for v := n - 20; v < n; v++ {
			for k := range 4 {
				b := encodeRecords([]testRecord{{key: make([]byte, k), value: make([]byte, v)}})
				if len(b) == n {
					return b
				}
			}
		}
		t.Fatalf("no record encodes to %d bytes", n)
		return nil
	}
	atLimit := recordsOf(limit)
	over := make([]byte, limit+1)
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := decodeRecordTimestamps(buildBatchRaw(spec, c.attr, c.compress(t, atLimit), 1), limit); err != nil {
				t.Errorf("at the limit: %v", err)
			}
			_, _, err := decodeRecordTimestamps(buildBatchRaw(spec, c.attr, c.compress(t, over), 1), limit)
			var tooLarge errTooLarge
			if !errors.Is(err, ErrCorruptBatch) || !errors.As(err, &tooLarge) {
				t.Errorf("over the limit: got %v, want a too-large ErrCorruptBatch", err)
			}
		})
	}
}

// TestRecordTimestampsBombAllocation checks the real bound against bombs
// that declare their size up front: refusing them allocates far less than
// they claim. (Streamed codecs are cut off while reading; the small-bound
// test above covers them.) Not parallel, so the allocation count is ours.
func TestRecordTimestampsBombAllocation(t *testing.T) {
	spec := batchSpec{lastOffsetDelta: 0, numRecords: 1}
	// A raw snappy block and a zstd frame both declare their decoded size
	// up front; a lying claim must be refused before allocation.
	snappyClaim := binary.AppendUvarint(nil, 1<<32-1)
	zstdFrame := kgoCompress(kgo.ZstdCompression())(t, make([]byte, maxDecompressedRecords+1))
	cases := []struct {
		name string
		attr int16
		data []byte
	}{
		{"snappy claims 4 GiB", 2, append(snappyClaim, 0, 0, 0)},
		{"xerial claims 4 GiB", 2, append(append(slices.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8), append(snappyClaim, 0, 0, 0)...)},
		{"zstd over 64 MiB", 4, zstdFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := buildBatchRaw(spec, tc.attr, tc.data, 1)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := recordTimestamps(raw)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorruptBatch) {
				t.Fatalf("got %v, want ErrCorruptBatch", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d bytes refusing a bomb", alloc)
			}
		})
	}
}

func FuzzRecordTimestamps(f *testing.F) {
	spec := batchSpec{baseOffset: 100, baseTimestamp: 1000, maxTimestamp: 2000, lastOffsetDelta: -1, numRecords: -1}
	for _, c := range codecs {
		f.Add(buildBatch(f, spec, c, sampleRecords()))
		f.Add(buildBatch(f, spec, c, []testRecord{{value: []byte("x")}}))
	}
	f.Add(buildBatchRaw(batchSpec{numRecords: 0}, 0, nil, 0))
	f.Fuzz(func(t *testing.T, raw []byte) {
		// A small bound keeps each run fast; the code path is the same.
		offsets, timestamps, err := decodeRecordTimestamps(raw, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) && !errors.Is(err, ErrUnsupportedMagic) {
				t.Fatalf("error %v wraps neither ErrCorruptBatch nor ErrUnsupportedMagic", err)
			}
			return
		}
		h, herr := parseBatchHeader(raw)
		if herr != nil {
			t.Fatalf("decoded a batch whose header fails: %v", herr)
		}
		if len(offsets) != int(h.NumRecords) || len(timestamps) != len(offsets) {
			t.Fatalf("%d offsets, %d timestamps for %d records", len(offsets), len(timestamps), h.NumRecords)
		}
		for i, o := range offsets {
			if o < h.BaseOffset || o > h.lastOffset() || (i > 0 && o <= offsets[i-1]) {
				t.Fatalf("offset %d at %d out of order or outside [%d, %d]", o, i, h.BaseOffset, h.lastOffset())
			}
		}
	})
}
