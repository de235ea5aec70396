package objectstore_test

import (
	"context"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore/memory"
)

// TestAppendStampsLogAppendTime checks message.timestamp.type: a
// LogAppendTime topic stores each batch stamped with the time it was
// appended (the timestamp-type attribute and MaxTimestamp, the CRC made
// anew), answers that time, and finds records by it; a CreateTime topic
// stores the batch as sent.
func TestAppendStampsLogAppendTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEngine(memory.New())
	tests := []struct {
		name    string
		configs map[string]string
		stamped bool
	}{
		{"LogAppendTime", map[string]string{"message.timestamp.type": "LogAppendTime"}, true},
		{"CreateTime", map[string]string{"message.timestamp.type": "CreateTime"}, false},
		{"default", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic, err := e.CreateTopic(ctx, "times-"+tt.name, 1, tt.configs)
			if err != nil {
				t.Fatal(err)
			}
			sent := plainBatch(3) // created at 1000 to 1002: long ago
			before := time.Now().UnixMilli()
			res, err := e.Append(ctx, topic, 0, sent.encode())
			after := time.Now().UnixMilli()
			if err != nil {
				t.Fatal(err)
			}
			read, err := e.Read(ctx, topic, 0, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(read.Records); err != nil {
				t.Fatal(err)
			}
			raw := read.Records[:12+b.Length]
			if got := int32(crc32.Checksum(raw[21:], castagnoli)); got != b.CRC {
				t.Fatalf("stored batch CRC %08x, computed %08x", b.CRC, got)
			}
			if b.FirstTimestamp != 1000 {
				t.Errorf("FirstTimestamp %d, want the producer's 1000", b.FirstTimestamp)
			}
			stamped := b.Attributes&0x08 != 0
			if !tt.stamped {
				if stamped || b.MaxTimestamp != 1002 || res.LogAppendTime != -1 {
					t.Fatalf("a %s batch was changed: attributes %#x, max timestamp %d, log append time %d", tt.name, b.Attributes, b.MaxTimestamp, res.LogAppendTime)
				}
				return
			}
			if !stamped || b.MaxTimestamp < before || b.MaxTimestamp > after {
				t.Fatalf("attributes %#x, max timestamp %d: want the LogAppendTime bit and a time in [%d, %d]", b.Attributes, b.MaxTimestamp, before, after)
			}
			if res.LogAppendTime != b.MaxTimestamp {
				t.Errorf("answered log append time %d, stored %d", res.LogAppendTime, b.MaxTimestamp)
			}
			// Records are found by the time they were appended, not by
			// the time the producer gave them.
			if off, ts, err := e.OffsetForTime(ctx, topic, 0, before); err != nil || off != 0 || ts != b.MaxTimestamp {
				t.Errorf("offset for time %d: %d at %d, %v; want 0 at %d", before, off, ts, err, b.MaxTimestamp)
			}
			if off, _, err := e.OffsetForTime(ctx, topic, 0, after+1); err != nil || off != -1 {
				t.Errorf("offset for a time after the append: %d, %v; want -1", off, err)
			}
		})
	}
}

// TestRetryIsAnsweredWithTheStoredAppendTime: an idempotent producer's
// retry of a batch already stored is answered with the time the stored
// batch carries, as Kafka answers it, not with the retry's arrival.
func TestRetryIsAnsweredWithTheStoredAppendTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEngine(memory.New())
	topic, err := e.CreateTopic(ctx, "retried", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	if err != nil {
		t.Fatal(err)
	}
	batch := batchSpec{records: 2, producerID: 7, epoch: 0, sequence: 0, timestamp: 1000}
	first, err := e.Append(ctx, topic, 0, batch.encode())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // a retry arrives later
	retry, err := e.Append(ctx, topic, 0, batch.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !retry.Duplicate || retry.BaseOffset != first.BaseOffset || retry.LogAppendTime != first.LogAppendTime {
		t.Fatalf("retry answered %+v, want the first append's %+v as a duplicate", retry, first)
	}
	// A fresh engine rebuilds the producer state from the stored object.
	retry, err = newEngine(e.Bucket()).Append(ctx, topic, 0, batch.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !retry.Duplicate || retry.LogAppendTime != first.LogAppendTime {
		t.Fatalf("retry on a fresh engine answered %+v, want log append time %d", retry, first.LogAppendTime)
	}
}
