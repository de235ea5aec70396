package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestLongPollIsWokenByProduce(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	admin := b.admin(t)
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "poll"); err != nil {
		t.Fatal(err)
	}
	cl := b.client(t)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 10_000
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "poll"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := req.RequestWith(ctx, cl)
		done <- result{resp, err}
	}()
	time.Sleep(200 * time.Millisecond)
	producer := b.client(t)
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "poll", Value: []byte("wake up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	// Woken by the produce, long before MaxWaitMillis.
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("fetch returned after %v", waited)
	}
	p := res.resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("fetch: error %d, %d bytes, high watermark %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	cl := b.client(t, kgo.DefaultProduceTopic("times"))
	base := time.UnixMilli(1_750_000_000_000)
	for i := range 10 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	admin := kadm.NewClient(cl)
	tests := []struct {
		name string
		at   int64
		want int64
	}{
		{"before everything", base.Add(-time.Hour).UnixMilli(), 0},
		{"exact", base.Add(4 * time.Second).UnixMilli(), 4},
		{"between", base.Add(4500 * time.Millisecond).UnixMilli(), 5},
		{"after everything", base.Add(time.Hour).UnixMilli(), -1},
	}
	for _, tt := range tests {
		offs, err := admin.ListOffsetsAfterMilli(ctx, tt.at, "times")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("times", 0)
		want := tt.want
		if want == -1 {
			want = 10 // kadm reports the end offset when no record is that late
		}
		if o.Err != nil || o.Offset != want && !(tt.want == -1 && o.Offset == -1) {
			t.Errorf("%s: offset %d (%v), want %d", tt.name, o.Offset, o.Err, tt.want)
		}
	}
	start, err := admin.ListStartOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	end, err := admin.ListEndOffsets(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup("times", 0); s.Offset != 0 {
		t.Errorf("start offset %d", s.Offset)
	}
	if e, _ := end.Lookup("times", 0); e.Offset != 10 {
		t.Errorf("end offset %d", e.Offset)
	}
}

func TestAcksZero(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	cl := b.client(t, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("noack"))
	for i := range 50 {
		cl.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if recs := consumeN(t, b, "noack", 50); len(recs) != 50 {
		t.Fatalf("read %d records", len(recs))
	}
}
