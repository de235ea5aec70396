package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// saramaClient is IBM/sarama told the broker is Kafka version v. sarama
// does not negotiate: Config.Version picks every request version, so each
// version here exercises an older or newer set of requests.
type saramaClient struct {
	addr    string
	version sarama.KafkaVersion
	auth    saslAuth    // zero: no SASL
	tls     *tls.Config // nil: plain TCP
}

func (s saramaClient) name() string {
	v := strings.Split(s.version.String(), ".")
	return "sarama-" + v[0] + "." + v[1]
}

func (s saramaClient) withSASL(addr string, a saslAuth) (client, error) {
	if a.mechanism != sarama.SASLTypePlaintext && a.mechanism != sarama.SASLTypeSCRAMSHA256 {
		return nil, fmt.Errorf("no SASL mechanism %s in this driver", a.mechanism)
	}
	return saramaClient{addr: addr, version: s.version, auth: a}, nil
}

func (s saramaClient) withTLS(addr string, files tlsFiles, a saslAuth) (client, error) {
	c, err := s.withSASL(addr, a)
	if err != nil {
		return nil, err
	}
	sc := c.(saramaClient)
	if sc.tls, err = files.config(); err != nil {
		return nil, err
	}
	return sc, nil
}

// xdgSCRAM is sarama's SCRAMClient on github.com/xdg-go/scram, as in
// sarama's own example: sarama leaves the SCRAM computation to the caller.
type xdgSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, password, authzID string) error {
	c, err := x.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

func (s saramaClient) config() *sarama.Config {
	cfg := sarama.NewConfig()
	if s.auth.mechanism != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(s.auth.mechanism)
		cfg.Net.SASL.User, cfg.Net.SASL.Password = s.auth.user, s.auth.password
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: scram.SHA256} }
	}
	if s.tls != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = s.tls
	}
	cfg.Version = s.version
	cfg.ClientID = "compat-" + s.name()
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func (s saramaClient) admin() (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin([]string{s.addr}, s.config())
}

func (s saramaClient) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, err := s.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	entries := map[string]*string{}
	for k, v := range configs {
		entries[k] = &v
	}
	return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: entries}, false)
}

func (s saramaClient) deleteTopic(ctx context.Context, topic string) error {
	adm, err := s.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	return adm.DeleteTopic(topic)
}

func (s saramaClient) partitions(ctx context.Context, topic string) (int32, error) {
	adm, err := s.admin()
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	md, err := adm.DescribeTopics([]string{topic})
	if err != nil {
		return 0, err
	}
	if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrNoError) {
		return 0, fmt.Errorf("topic %s: %v", topic, md)
	}
	return int32(len(md[0].Partitions)), nil
}

func (s saramaClient) produce(ctx context.Context, topic, codec string, idempotent bool, recs []record) error {
	cfg := s.config()
	cfg.Producer.Compression = map[string]sarama.CompressionCodec{
		"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}[codec]
	if idempotent {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	p, err := sarama.NewSyncProducer([]string{s.addr}, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(r.key), Value: sarama.StringEncoder(r.value), Timestamp: r.ts}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
		}
		msgs[i] = m
	}
	return p.SendMessages(msgs)
}

func fromSarama(m *sarama.ConsumerMessage) record {
	r := record{key: string(m.Key), value: string(m.Value), ts: m.Timestamp}
	for _, h := range m.Headers {
		r.headers = append(r.headers, [2]string{string(h.Key), string(h.Value)})
	}
	return r
}

func (s saramaClient) consume(ctx context.Context, topic string, n int) ([]record, error) {
	c, err := sarama.NewConsumer([]string{s.addr}, s.config())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var got []record
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, fromSarama(m))
		case err := <-pc.Errors():
			return got, err
		case <-ctx.Done():
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
	}
	return got, nil
}

func (s saramaClient) listOffsets(ctx context.Context, topic string, ts time.Time) (start, end, atTS int64, err error) {
	cl, err := sarama.NewClient([]string{s.addr}, s.config())
	if err != nil {
		return 0, 0, 0, err
	}
	defer cl.Close()
	if start, err = cl.GetOffset(topic, 0, sarama.OffsetOldest); err != nil {
		return
	}
	if end, err = cl.GetOffset(topic, 0, sarama.OffsetNewest); err != nil {
		return
	}
	atTS, err = cl.GetOffset(topic, 0, ts.UnixMilli())
	return
}

// saramaHandler records its session's claims and, when given a channel,
// commits and hands over up to limit records.
type saramaHandler struct {
	parts   assignment
	records chan record // nil: only track the assignment
	mu      sync.Mutex
	limit   int
}

func (h *saramaHandler) Setup(sess sarama.ConsumerGroupSession) error {
	var parts []int32
	for _, ps := range sess.Claims() {
		parts = append(parts, ps...)
	}
	h.parts.set(parts)
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { h.parts.set(nil); return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if h.records == nil {
			continue
		}
		h.mu.Lock()
		if h.limit > 0 {
			h.limit--
			// Committed before it is handed over, so a record the suite
			// has is a committed record.
			sess.MarkMessage(m, "")
			sess.Commit()
			h.records <- fromSarama(m)
		}
		h.mu.Unlock()
	}
	return nil
}

type saramaMember struct {
	g      sarama.ConsumerGroup
	h      *saramaHandler
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s saramaClient) startMember(ctx context.Context, group, topic string, records chan record) (*saramaMember, error) {
	g, err := sarama.NewConsumerGroup([]string{s.addr}, group, s.config())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &saramaMember{g: g, h: &saramaHandler{records: records, limit: cap(records)}, cancel: cancel}
	m.wg.Go(func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m.h); err != nil && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
	m.wg.Go(func() {
		for range g.Errors() {
		}
	})
	return m, nil
}

func (m *saramaMember) assigned() []int32 { return m.h.parts.get() }
func (m *saramaMember) close()            { m.cancel(); m.g.Close(); m.wg.Wait() }

func (s saramaClient) join(ctx context.Context, group, topic string) (member, error) {
	return s.startMember(ctx, group, topic, nil)
}

func (s saramaClient) consumeGroup(ctx context.Context, group, topic string, n int) ([]record, error) {
	records := make(chan record, n)
	m, err := s.startMember(ctx, group, topic, records)
	if err != nil {
		return nil, err
	}
	var got []record
	for len(got) < n {
		select {
		case r := <-records:
			got = append(got, r)
		case <-ctx.Done():
			m.close()
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
	}
	m.close()
	return got, nil
}
