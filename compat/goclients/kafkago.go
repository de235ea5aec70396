package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// kafkaGo is segmentio/kafka-go.
type kafkaGo struct {
	addr string
	mech sasl.Mechanism // nil: no SASL
	tls  *tls.Config    // nil: plain TCP
}

func (k kafkaGo) name() string { return "kafka-go" }

func (k kafkaGo) withSASL(addr string, a saslAuth) (client, error) {
	switch a.mechanism {
	case "PLAIN":
		return kafkaGo{addr: addr, mech: plain.Mechanism{Username: a.user, Password: a.password}}, nil
	case "SCRAM-SHA-256":
		mech, err := scram.Mechanism(scram.SHA256, a.user, a.password)
		return kafkaGo{addr: addr, mech: mech}, err
	}
	return nil, fmt.Errorf("no SASL mechanism %s in this driver", a.mechanism)
}

func (k kafkaGo) withTLS(addr string, files tlsFiles, a saslAuth) (client, error) {
	c, err := k.withSASL(addr, a)
	if err != nil {
		return nil, err
	}
	kc := c.(kafkaGo)
	if kc.tls, err = files.config(); err != nil {
		return nil, err
	}
	return kc, nil
}

// dialer serves readers and consumer groups, transport the rest.
func (k kafkaGo) dialer() *kafka.Dialer {
	return &kafka.Dialer{ClientID: "compat-kafka-go", Timeout: 10 * time.Second, DualStack: true, SASLMechanism: k.mech, TLS: k.tls}
}

func (k kafkaGo) transport() *kafka.Transport {
	return &kafka.Transport{ClientID: "compat-kafka-go", MetadataTTL: time.Second, SASL: k.mech, TLS: k.tls}
}

func (k kafkaGo) admin() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(k.addr), Timeout: 10 * time.Second, Transport: k.transport()}
}

func (k kafkaGo) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	var entries []kafka.ConfigEntry
	for name, value := range configs {
		entries = append(entries, kafka.ConfigEntry{ConfigName: name, ConfigValue: value})
	}
	resp, err := k.admin().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1, ConfigEntries: entries}}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (k kafkaGo) deleteTopic(ctx context.Context, topic string) error {
	resp, err := k.admin().DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	return resp.Errors[topic]
}

func (k kafkaGo) partitions(ctx context.Context, topic string) (int32, error) {
	resp, err := k.admin().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].Error != nil {
		return 0, fmt.Errorf("topic %s: %+v", topic, resp.Topics)
	}
	return int32(len(resp.Topics[0].Partitions)), nil
}

func (k kafkaGo) produce(ctx context.Context, topic, codec string, idempotent bool, recs []record) error {
	if idempotent {
		return notInClient("kafka-go has no idempotent producer")
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(k.addr),
		Topic:                  topic,
		Balancer:               kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           10 * time.Millisecond,
		BatchSize:              len(recs),
		Compression:            map[string]compress.Compression{"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd}[codec],
		Transport:              k.transport(),
		AllowAutoTopicCreation: true,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.key), Value: []byte(r.value), Time: r.ts}
		for _, h := range r.headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
		}
	}
	// A first write can race the topic's auto-creation; kafka-go then
	// reports UNKNOWN_TOPIC_OR_PARTITION, which is retriable.
	var err error
	for range 20 {
		if err = w.WriteMessages(ctx, msgs...); !errors.Is(err, kafka.UnknownTopicOrPartition) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func fromKafkaGo(m kafka.Message) record {
	r := record{key: string(m.Key), value: string(m.Value), ts: m.Time}
	for _, h := range m.Headers {
		r.headers = append(r.headers, [2]string{h.Key, string(h.Value)})
	}
	return r
}

func (k kafkaGo) readerConfig(topic string) kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:           []string{k.addr},
		Topic:             topic,
		MaxWait:           200 * time.Millisecond,
		ReadBatchTimeout:  time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		Dialer:            k.dialer(),
	}
}

func (k kafkaGo) consume(ctx context.Context, topic string, n int) ([]record, error) {
	r := kafka.NewReader(k.readerConfig(topic))
	defer r.Close()
	var got []record
	for len(got) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, err)
		}
		got = append(got, fromKafkaGo(m))
	}
	return got, nil
}

func (k kafkaGo) listOffsets(ctx context.Context, topic string, ts time.Time) (start, end, atTS int64, err error) {
	resp, err := k.admin().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.TimeOffsetOf(0, ts)},
	}})
	if err != nil {
		return 0, 0, 0, err
	}
	ps := resp.Topics[topic]
	if len(ps) != 1 || ps[0].Error != nil {
		return 0, 0, 0, fmt.Errorf("list offsets: %+v", ps)
	}
	p := ps[0]
	atTS = -1
	for o, t := range p.Offsets {
		if t.Equal(ts) {
			atTS = o
		}
	}
	return p.FirstOffset, p.LastOffset, atTS, nil
}

type kafkaGoMember struct {
	g      *kafka.ConsumerGroup
	parts  assignment
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (k kafkaGo) join(ctx context.Context, group, topic string) (member, error) {
	g, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: []string{k.addr}, Topics: []string{topic},
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 5 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		Dialer: k.dialer(),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &kafkaGoMember{g: g, cancel: cancel}
	m.wg.Go(func() {
		for {
			gen, err := g.Next(ctx)
			if err != nil {
				return
			}
			var parts []int32
			for _, a := range gen.Assignments[topic] {
				parts = append(parts, int32(a.ID))
			}
			m.parts.set(parts)
			gen.Start(func(ctx context.Context) { <-ctx.Done() })
		}
	})
	return m, nil
}

func (m *kafkaGoMember) assigned() []int32 { return m.parts.get() }
func (m *kafkaGoMember) close()            { m.cancel(); m.g.Close(); m.wg.Wait() }

func (k kafkaGo) consumeGroup(ctx context.Context, group, topic string, n int) ([]record, error) {
	cfg := k.readerConfig(topic)
	cfg.GroupID = group
	r := kafka.NewReader(cfg)
	defer r.Close()
	var got []record
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return got, fmt.Errorf("commit: %w", err)
		}
		got = append(got, fromKafkaGo(m))
	}
	return got, nil
}
