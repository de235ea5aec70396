package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// Produce (key 0), v3-11.
//
// Each partition's records must be one magic-2 record batch; it is checked
// (framing, CRC, record count) and stored as the producer sent it, with its
// base offset rewritten and, where the topic says so, its compression
// (compression.type) or its time (LogAppendTime). Every partition's
// batch is queued on its partition before the connection reads its next
// request, so the writes of one request, of a connection's pipelined
// requests, and of concurrent connections to one partition share objects
// (group commit). Every acks level is
// durable in the bucket before the answer: acks=1 and acks=-1 behave the
// same, and acks=0 gets no response at all.
//
// v3 is the first version with magic-2 batches (older versions are refused
// through ApiVersions). v5 adds LogStartOffset, v7 zstd (a zstd batch in
// an older version is UNSUPPORTED_COMPRESSION_TYPE, KIP-110), v8
// RecordErrors and ErrorMessage, v9 flexible encoding.

// startProduce queues every partition's batch on its partition, in
// request order, and returns a function that waits for the writes and
// builds the response (nil for acks=0). The connection reads its next
// request while the writes are in flight.
func (s *Server) startProduce(ctx context.Context, req *kmsg.ProduceRequest) func() kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if req.TransactionID != nil {
		r := produceError(req, resp, kerr.TransactionalIDAuthorizationFailed.Code)
		return func() kmsg.Response { return r }
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		r := produceError(req, resp, kerr.InvalidRequiredAcks.Code)
		return func() kmsg.Response { return r }
	}

	type queued struct {
		sp      *kmsg.ProduceResponseTopicPartition
		pending *objectstore.PendingAppend
	}
	var waits []queued
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t, topicErr := s.lookupTopic(ctx, rt.Topic, true)
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			if topicErr != nil {
				s.setProduceError(sp, topicErr)
				continue
			}
			if req.Version < 7 && objectstore.HasZstd(rp.Records) {
				sp.ErrorCode = kerr.UnsupportedCompressionType.Code
				continue
			}
			pending, err := s.engine.Enqueue(ctx, t, rp.Partition, rp.Records)
			if err != nil {
				s.setProduceError(sp, err)
				continue
			}
			waits = append(waits, queued{sp, pending})
		}
	}
	return func() kmsg.Response {
		wctx := ctx
		if req.TimeoutMillis > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
			defer cancel()
		}
		for _, w := range waits {
			res, err := w.pending.Wait(wctx)
			if err != nil {
				s.setProduceError(w.sp, err)
				continue
			}
			w.sp.BaseOffset, w.sp.LogStartOffset, w.sp.LogAppendTime = res.BaseOffset, res.LogStartOffset, res.LogAppendTime
		}
		if req.Acks == 0 {
			return nil
		}
		return resp
	}
}

func (s *Server) setProduceError(sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = s.errorCode(err)
	if !errors.Is(err, objectstore.ErrUnknownTopic) {
		sp.ErrorMessage = errorMessage(err)
	}
}

// produceError answers every partition of a request with one code.
func produceError(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16) kmsg.Response {
	if req.Acks == 0 {
		return nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
