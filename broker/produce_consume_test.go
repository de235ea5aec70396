package broker

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduceConsumeCodecs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := "codec-" + c.name
			cl := b.client(t, kgo.ProducerBatchCompression(c.codec), kgo.DefaultProduceTopic(topic))
			ctx := testContext(t, 20*time.Second)
			const n = 200
			ts := time.UnixMilli(1_700_000_000_000)
			for i := range n {
				r := &kgo.Record{
					Key:       []byte(fmt.Sprintf("key-%d", i)),
					Value:     []byte(strings.Repeat(fmt.Sprintf("value-%d ", i), 20)),
					Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
					Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
				}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			recs := consumeN(t, b, topic, n)
			for i, r := range recs[:n] {
				if r.Offset != int64(i) {
					t.Fatalf("record %d has offset %d", i, r.Offset)
				}
				if want := fmt.Sprintf("key-%d", i); string(r.Key) != want {
					t.Fatalf("record %d key %q, want %q", i, r.Key, want)
				}
				if len(r.Headers) != 1 || string(r.Headers[0].Value) != fmt.Sprint(i) {
					t.Fatalf("record %d headers %v", i, r.Headers)
				}
				if want := ts.Add(time.Duration(i) * time.Millisecond); !r.Timestamp.Equal(want) {
					t.Fatalf("record %d timestamp %v, want %v", i, r.Timestamp, want)
				}
			}
		})
	}
}

// createTopic creates topic through CreateTopics, with configs set.
func createTopic(t *testing.T, b *testBroker, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	if _, err := b.admin(t).CreateTopic(testContext(t, 10*time.Second), partitions, 1, configs, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

func TestLargeRecord(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := b.client(t, kgo.ProducerBatchMaxBytes(2<<20))
	ctx := testContext(t, 20*time.Second)
	value := bytes.Repeat([]byte("siesta!"), (1<<20)/7)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "big", Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	recs := consumeN(t, b, "big", 1, kgo.FetchMaxBytes(4<<20))
	if !bytes.Equal(recs[0].Value, value) {
		t.Fatalf("got %d bytes back, want %d", len(recs[0].Value), len(value))
	}
}

func TestMaxMessageBytes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	const topic = "limited"
	createTopic(t, b, topic, 2, map[string]*string{"max.message.bytes": kadm.StringPtr("10000")})
	// Uncompressed: the limit applies to the batch as sent, so a
	// compressed batch of these repetitive values would fit.
	cl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testContext(t, 20*time.Second)
	type produced struct {
		partition int32
		size      int
		want      error
	}
	// The rounds run in order, on one idempotent producer; each round's
	// records are produced together.
	rounds := []struct {
		name    string
		records []produced
	}{
		{"small", []produced{{0, 100, nil}}},
		{"too large beside a small record", []produced{{0, 20000, kerr.MessageTooLarge}, {1, 100, nil}}},
		{"small after the refusal", []produced{{0, 100, nil}}},
	}
	for _, round := range rounds {
		t.Run(round.name, func(t *testing.T) {
			recs := make([]*kgo.Record, len(round.records))
			want := make(map[*kgo.Record]error, len(recs))
			for i, p := range round.records {
				recs[i] = &kgo.Record{Partition: p.partition, Value: bytes.Repeat([]byte("m"), p.size)}
				want[recs[i]] = p.want
			}
			// Results come in the order produced per partition, not recs'.
			for _, res := range cl.ProduceSync(ctx, recs...) {
				if w := want[res.Record]; !errors.Is(res.Err, w) {
					t.Errorf("%d bytes to partition %d: %v, want %v", len(res.Record.Value), res.Record.Partition, res.Err, w)
				}
			}
		})
	}
	ends, err := b.admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int64{2, 1} {
		if end, _ := ends.Lookup(topic, int32(p)); end.Offset != want {
			t.Errorf("partition %d ends at %d, want %d", p, end.Offset, want)
		}
	}
}

func TestIdempotentProducerManyPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = 8 })
	cl := b.client(t, kgo.DefaultProduceTopic("idem"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := testContext(t, 20*time.Second)
	const n = 5000
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := consumeN(t, b, "idem", n)
	seen := make(map[string]bool, n)
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Fatalf("record %s read twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(seen) != n {
		t.Fatalf("read %d distinct records, want %d", len(seen), n)
	}
}

// TestLogAppendTimeTopic: in a topic with message.timestamp.type
// LogAppendTime, consumers see the time the broker appended each record,
// flagged as such, whatever time the producer gave it, and the Produce
// response gives that time.
func TestLogAppendTimeTopic(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	logAppendTime := "LogAppendTime"
	createTopic(t, b, "appended", 1, map[string]*string{"message.timestamp.type": &logAppendTime})
	cl := b.client(t)
	ctx := testContext(t, 20*time.Second)
	before := time.Now().UnixMilli()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: "appended", Partitions: []kmsg.ProduceRequestTopicPartition{
		{Partition: 0, Records: oneRecordBatch(1_000_000_000_000, "v")}, // created in 2001
	}}}
	resp, err := req.RequestWith(ctx, cl)
	after := time.Now().UnixMilli()
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatal(err)
	}
	if p.LogAppendTime < before || p.LogAppendTime > after {
		t.Errorf("answered log append time %d, want one in [%d, %d]", p.LogAppendTime, before, after)
	}
	got := consumeN(t, b, "appended", 1)[0]
	if got.Attrs.TimestampType() != 1 || got.Timestamp.UnixMilli() != p.LogAppendTime {
		t.Errorf("consumed timestamp %d of type %d, want %d of type 1 (LogAppendTime)", got.Timestamp.UnixMilli(), got.Attrs.TimestampType(), p.LogAppendTime)
	}
}

// oneRecordBatch is an uncompressed magic-2 batch of one record created
// at ms, as a producer sends it.
func oneRecordBatch(ms int64, value string) []byte {
	return oneRecordBatchIn(nil, ms, value)
}

// oneRecordBatchIn is oneRecordBatch compressed with codec (nil: none).
func oneRecordBatchIn(codec *kgo.CompressionCodec, ms int64, value string) []byte {
	r := kmsg.NewRecord()
	r.Value = []byte(value)
	r.Length = int32(len(r.AppendTo(nil)) - 1) // the bytes after the length varint
	batch := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: ms, MaxTimestamp: ms,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1,
		Records: r.AppendTo(nil),
	}
	if codec != nil {
		comp, err := kgo.DefaultCompressor(*codec)
		if err != nil {
			panic(err)
		}
		var buf bytes.Buffer
		records, attr := comp.Compress(&buf, batch.Records)
		batch.Records, batch.Attributes = append([]byte(nil), records...), int16(attr)
	}
	batch.Length = int32(len(batch.AppendTo(nil)) - 12)
	raw := batch.AppendTo(nil)
	batch.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return batch.AppendTo(nil)
}

// TestTopicCompressionType: a topic whose compression.type names a codec
// stores batches in it, whatever the producer sent, as Kafka does; both
// franz-go and librdkafka (kcat) read them back.
func TestTopicCompressionType(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	tests := []struct {
		topicCodec string
		attr       int8
		producer   kgo.CompressionCodec
	}{
		{"uncompressed", 0, kgo.ZstdCompression()},
		{"gzip", 1, kgo.SnappyCompression()},
		{"snappy", 2, kgo.NoCompression()},
		{"lz4", 3, kgo.GzipCompression()},
		{"zstd", 4, kgo.Lz4Compression()},
	}
	for _, tt := range tests {
		t.Run(tt.topicCodec, func(t *testing.T) {
			topic := "compressed-" + tt.topicCodec
			codec := tt.topicCodec
			createTopic(t, b, topic, 1, map[string]*string{"compression.type": &codec})
			cl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(tt.producer))
			ctx := testContext(t, 20*time.Second)
			var want []string
			for i := range 50 {
				v := fmt.Sprintf("%s record %d %s", tt.topicCodec, i, strings.Repeat("z", i))
				want = append(want, v)
				cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, nil)
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			tp, err := b.engine.Topic(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.engine.Read(ctx, tp, 0, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var batch kmsg.RecordBatch
			if err := batch.ReadFrom(res.Records); err != nil {
				t.Fatal(err)
			}
			if got := int8(batch.Attributes & 7); got != tt.attr {
				t.Errorf("stored batch codec %d, want %d (%s)", got, tt.attr, tt.topicCodec)
			}
			recs := consumeN(t, b, topic, len(want))
			for i, r := range recs {
				if string(r.Value) != want[i] {
					t.Fatalf("franz-go read record %d as %q, want %q", i, r.Value, want[i])
				}
			}
			if _, err := exec.LookPath("kcat"); err == nil || os.Getenv("SIESTA_REQUIRE_KCAT") != "" {
				got := kcatLines(kcat(t, b, 20*time.Second, "", "-t", topic, "-C", "-o", "beginning", "-e", "-q"))
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("kcat read %d records, not the %d produced", len(got), len(want))
				}
			}
		})
	}
}

// TestZstdNeedsItsVersions: a zstd batch is refused in Produce before v7
// (UNSUPPORTED_COMPRESSION_TYPE), as in Kafka (KIP-110).
func TestZstdNeedsItsVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	zstd := kgo.ZstdCompression()
	produce := func(version int16, batch []byte) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.Acks, req.TimeoutMillis = -1, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "zstd-versions", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		readResponse(t, b.addr, req, resp)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(6, oneRecordBatchIn(&zstd, 1000, "v6")); code != kerr.UnsupportedCompressionType.Code {
		t.Fatalf("zstd in Produce v6: %v, want UNSUPPORTED_COMPRESSION_TYPE", kerr.ErrorForCode(code))
	}
	if code := produce(6, oneRecordBatch(1000, "plain v6")); code != 0 {
		t.Fatalf("uncompressed in Produce v6: %v", kerr.ErrorForCode(code))
	}
	if code := produce(7, oneRecordBatchIn(&zstd, 1000, "v7")); code != 0 {
		t.Fatalf("zstd in Produce v7: %v", kerr.ErrorForCode(code))
	}
	// Fetch before v10 returns zstd batches (Kafka would refuse them):
	// kafka-python reads zstd over Fetch v4.
}

// readResponse sends req on a new connection and decodes the answer
// into resp.
func readResponse(t *testing.T, addr string, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	body, err := roundTrip(t, addr, rawRequest(req, 7))
	if err != nil {
		t.Fatalf("connection dropped: %v", err)
	}
	if resp.IsFlexible() {
		body = body[1:] // the response header's tagged fields
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
}
