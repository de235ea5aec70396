package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// Fetch (key 1), v4-12.
//
// Returns whole stored batches from each requested offset. The response
// holds at most MaxBytes (capped at maxFetchBytes, like Kafka's
// fetch.max.bytes) and each partition at most its PartitionMaxBytes, except
// that the first batch found is always returned whole (KIP-74). If fewer
// than MinBytes are ready the request long-polls up to MaxWaitMillis, woken
// early by any append on this broker and rechecking the bucket for other
// brokers' writes at the engine's tail refresh interval.
//
// Fetch sessions (v7+, KIP-227) are not kept: every response has session id
// 0, which tells the client to send full fetches. There are no transactions,
// so read_committed sees what read_uncommitted sees and the last stable
// offset is the high watermark. v11 adds the preferred read replica (-1).
//
// Kafka answers a Fetch before v10 that would return a zstd batch with
// UNSUPPORTED_COMPRESSION_TYPE (KIP-110); siesta returns the batch, as
// clients that read zstd over older fetches rely on (kafka-python 2.0
// fetches with v4 and decodes zstd: the compatibility matrix's zstd rows
// fail for it under Kafka's rule).

// maxFetchBytes is Kafka's default fetch.max.bytes.
const maxFetchBytes = 55 << 20

// maxFetchWait bounds a long poll whatever the client asks for.
const maxFetchWait = 30 * time.Second

func (s *Server) handleFetch(ctx context.Context, req *kmsg.FetchRequest) kmsg.Response {
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > maxFetchBytes {
		maxBytes = maxFetchBytes
	}
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)
	for {
		appended := s.engine.Appended()
		resp, size := s.fetchOnce(ctx, req, maxBytes)
		remaining := time.Until(deadline)
		if size >= int(req.MinBytes) || size > 0 && req.MinBytes <= 0 || remaining <= 0 {
			return resp
		}
		timer := time.NewTimer(min(remaining, s.engine.TailRefresh()))
		select {
		case <-appended:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return resp
		}
		timer.Stop()
	}
}

// fetchOnce reads every requested partition once and returns the response
// and how many record bytes it holds.
func (s *Server) fetchOnce(ctx context.Context, req *kmsg.FetchRequest, maxBytes int) (*kmsg.FetchResponse, int) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	topics := make([]objectstore.Topic, len(req.Topics))
	topicErrs := make([]error, len(req.Topics))
	var reads []objectstore.PartitionRead
	for i, rt := range req.Topics {
		topics[i], topicErrs[i] = s.engine.Topic(ctx, rt.Topic)
		if topicErrs[i] != nil {
			continue
		}
		for _, rp := range rt.Partitions {
			reads = append(reads, objectstore.PartitionRead{Topic: topics[i], Partition: rp.Partition, Offset: rp.FetchOffset})
		}
	}
	// The partitions are read one after another below, each within what
	// the ones before it left of maxBytes; what each must ask the bucket
	// first (a woken broker's loads, the tail refreshes) happens at once.
	s.engine.PrepareReads(ctx, reads)
	total := 0
	for i, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		t, topicErr := topics[i], topicErrs[i]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Records is nullable in the schema, but Kafka always sends
			// an empty set, and librdkafka and sarama (Fetch v4-11)
			// refuse a null one as a parse failure.
			sp.RecordBatches = []byte{}
			if topicErr != nil {
				sp.ErrorCode = s.errorCode(topicErr)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			budget := min(int(rp.PartitionMaxBytes), maxBytes-total)
			if budget <= 0 {
				// The response is full: report offsets only.
				offs, err := s.engine.Offsets(ctx, t, rp.Partition)
				sp.ErrorCode = s.errorCode(err)
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = offs.HighWatermark, offs.HighWatermark, offs.LogStart
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			res, err := s.engine.Read(ctx, t, rp.Partition, rp.FetchOffset, budget)
			if err != nil && !errors.Is(err, objectstore.ErrOffsetOutOfRange) && !errors.Is(err, objectstore.ErrUnknownPartition) {
				s.log.Warn("fetch", "topic", rt.Topic, "partition", rp.Partition, "offset", rp.FetchOffset, "err", err)
			}
			sp.ErrorCode = s.errorCode(err)
			if err == nil || errors.Is(err, objectstore.ErrOffsetOutOfRange) {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStart
			}
			if res.Records != nil {
				sp.RecordBatches = res.Records
			}
			total += len(res.Records)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total
}
