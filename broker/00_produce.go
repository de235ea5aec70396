package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
)

// Produce (key 0), v3-11.
//
// Each partition's records must be one magic-2 record batch; it is checked
// (framing, CRC, record count) and stored exactly as the producer sent it,
// compressed or not, with only its base offset rewritten. Partitions of one
// request are appended concurrently, and appends to one partition from
// concurrent requests share one object (group commit). Every acks level is
// durable in the bucket before the answer: acks=1 and acks=-1 behave the
// same, and acks=0 gets no response at all.
//
// v3 is the first version with magic-2 batches (older versions are refused
// through ApiVersions). v5 adds LogStartOffset, v8 RecordErrors and
// ErrorMessage, v9 flexible encoding.

func (s *Server) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if req.TransactionID != nil {
		return produceError(req, resp, kerr.TransactionalIDAuthorizationFailed.Code)
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return produceError(req, resp, kerr.InvalidRequiredAcks.Code)
	}
	if req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}

	var (
		wg      sync.WaitGroup
		appends []func() // one per partition, each filling its response
	)
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
			appends = append(appends, func() {
				res, err := s.engine.Append(ctx, t, rp.Partition, rp.Records)
				if err != nil {
					s.setProduceError(sp, err)
					return
				}
				sp.BaseOffset, sp.LogStartOffset = res.BaseOffset, res.LogStartOffset
			})
		}
	}
	// The last append runs on this goroutine: a request for one partition,
	// the common case, then costs no goroutine hand-off.
	for i, run := range appends {
		if i == len(appends)-1 {
			run()
		} else {
			wg.Go(run)
		}
	}
	wg.Wait()
	if req.Acks == 0 {
		return nil
	}
	return resp
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
