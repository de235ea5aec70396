//go:build cgo

package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// confluentGo is confluentinc/confluent-kafka-go with the static
// librdkafka it bundles; it needs cgo, so this driver is the only place
// cgo enters siesta's tree, and the siesta binary never links it.
type confluentGo struct {
	addr string
	auth saslAuth // zero: no SASL
	tls  tlsFiles // zero: plain TCP
}

func init() {
	extraClients = append(extraClients, func(addr string) client { return confluentGo{addr: addr} })
}

func (c confluentGo) name() string { return "confluent-kafka-go" }

func (c confluentGo) withSASL(addr string, a saslAuth) (client, error) {
	return confluentGo{addr: addr, auth: a}, nil
}

func (c confluentGo) withTLS(addr string, files tlsFiles, a saslAuth) (client, error) {
	return confluentGo{addr: addr, auth: a, tls: files}, nil
}

func (c confluentGo) version() string {
	_, lib := kafka.LibraryVersion()
	return "librdkafka " + lib
}

func (c confluentGo) conf(kv ...any) *kafka.ConfigMap {
	m := kafka.ConfigMap{"bootstrap.servers": c.addr, "client.id": "compat-" + c.name(), "log_level": 0}
	if c.auth.mechanism != "" {
		m["security.protocol"] = "SASL_PLAINTEXT"
		m["sasl.mechanisms"] = c.auth.mechanism
		m["sasl.username"], m["sasl.password"] = c.auth.user, c.auth.password
	}
	if c.tls.ca != "" {
		m["security.protocol"] = "SSL"
		if c.auth.mechanism != "" {
			m["security.protocol"] = "SASL_SSL"
		}
		m["ssl.ca.location"] = c.tls.ca
		m["ssl.endpoint.identification.algorithm"] = "https"
		if c.tls.cert != "" {
			m["ssl.certificate.location"], m["ssl.key.location"] = c.tls.cert, c.tls.key
		}
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return &m
}

func (c confluentGo) admin() (*kafka.AdminClient, error) { return kafka.NewAdminClient(c.conf()) }

func (c confluentGo) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: 1, Config: configs}})
	if err != nil {
		return err
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return res[0].Error
	}
	return nil
}

func (c confluentGo) deleteTopic(ctx context.Context, topic string) error {
	adm, err := c.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	res, err := adm.DeleteTopics(ctx, []string{topic})
	if err != nil {
		return err
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return res[0].Error
	}
	return nil
}

// partitions lists all topics: asking for one by name may auto-create it.
func (c confluentGo) partitions(ctx context.Context, topic string) (int32, error) {
	adm, err := c.admin()
	if err != nil {
		return 0, err
	}
	defer adm.Close()
	md, err := adm.GetMetadata(nil, true, 10000)
	if err != nil {
		return 0, err
	}
	t, ok := md.Topics[topic]
	if !ok || t.Error.Code() != kafka.ErrNoError {
		return 0, fmt.Errorf("topic %s not in metadata (%v)", topic, t.Error)
	}
	return int32(len(t.Partitions)), nil
}

func (c confluentGo) produce(ctx context.Context, topic, codec string, idempotent bool, recs []record) error {
	p, err := kafka.NewProducer(c.conf("compression.type", codec, "enable.idempotence", idempotent, "linger.ms", 5, "acks", "all"))
	if err != nil {
		return err
	}
	defer p.Close()
	done := make(chan kafka.Event, len(recs))
	for _, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Key: []byte(r.key), Value: []byte(r.value), Timestamp: r.ts}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h[0], Value: []byte(h[1])})
		}
		if err := p.Produce(m, done); err != nil {
			return err
		}
	}
	for range recs {
		select {
		case e := <-done:
			if m := e.(*kafka.Message); m.TopicPartition.Error != nil {
				return m.TopicPartition.Error
			}
		case e := <-p.Events():
			// librdkafka retries a refused authentication until the
			// records time out; the refusal itself comes as an event.
			if err, ok := e.(kafka.Error); ok && c.refused(err) {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// refused is whether err is the broker refusing the client: a refused
// authentication, or over TLS a refused handshake (an SSL error) or a
// client without a certificate refused after a TLS 1.3 handshake (a
// transport error on the first read).
func (c confluentGo) refused(err kafka.Error) bool {
	switch err.Code() {
	case kafka.ErrAuthentication:
		return true
	case kafka.ErrSsl, kafka.ErrTransport:
		return c.tls.ca != ""
	}
	return false
}

func fromConfluent(m *kafka.Message) record {
	r := record{key: string(m.Key), value: string(m.Value), ts: m.Timestamp}
	for _, h := range m.Headers {
		r.headers = append(r.headers, [2]string{h.Key, string(h.Value)})
	}
	return r
}

// read polls cons until n records arrived, committing each if asked.
func readConfluent(ctx context.Context, cons *kafka.Consumer, n int, commit bool) ([]record, error) {
	var got []record
	for len(got) < n {
		if ctx.Err() != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
		m, err := cons.ReadMessage(100 * time.Millisecond)
		if err != nil {
			if err.(kafka.Error).IsTimeout() {
				continue
			}
			return got, err
		}
		if commit {
			if _, err := cons.CommitMessage(m); err != nil {
				return got, fmt.Errorf("commit: %w", err)
			}
		}
		got = append(got, fromConfluent(m))
	}
	return got, nil
}

func (c confluentGo) consume(ctx context.Context, topic string, n int) ([]record, error) {
	// A group id is required by confluent-kafka-go even for manual
	// assignment; it never joins.
	cons, err := kafka.NewConsumer(c.conf("group.id", "unused", "enable.auto.commit", false))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		return nil, err
	}
	return readConfluent(ctx, cons, n, false)
}

func (c confluentGo) listOffsets(ctx context.Context, topic string, ts time.Time) (start, end, atTS int64, err error) {
	cons, err := kafka.NewConsumer(c.conf("group.id", "unused"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer cons.Close()
	start, end, err = cons.QueryWatermarkOffsets(topic, 0, 10000)
	if err != nil {
		return 0, 0, 0, err
	}
	res, err := cons.OffsetsForTimes([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(ts.UnixMilli())}}, 10000)
	if err != nil {
		return 0, 0, 0, err
	}
	if res[0].Error != nil {
		return 0, 0, 0, res[0].Error
	}
	return start, end, int64(res[0].Offset), nil
}

type confluentMember struct {
	cons   *kafka.Consumer
	parts  assignment
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (c confluentGo) groupConf(group string) *kafka.ConfigMap {
	return c.conf("group.id", group, "auto.offset.reset", "earliest", "enable.auto.commit", false,
		"session.timeout.ms", 6000, "heartbeat.interval.ms", 500)
}

func (c confluentGo) join(ctx context.Context, group, topic string) (member, error) {
	cons, err := kafka.NewConsumer(c.groupConf(group))
	if err != nil {
		return nil, err
	}
	if err := cons.Subscribe(topic, nil); err != nil {
		cons.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &confluentMember{cons: cons, cancel: cancel}
	m.wg.Go(func() {
		for ctx.Err() == nil {
			cons.Poll(100)
			tps, err := cons.Assignment()
			if err != nil {
				continue
			}
			var parts []int32
			for _, tp := range tps {
				parts = append(parts, tp.Partition)
			}
			m.parts.set(slices.Compact(parts))
		}
	})
	return m, nil
}

func (m *confluentMember) assigned() []int32 { return m.parts.get() }
func (m *confluentMember) close()            { m.cancel(); m.wg.Wait(); m.cons.Close() }

func (c confluentGo) consumeGroup(ctx context.Context, group, topic string, n int) ([]record, error) {
	cons, err := kafka.NewConsumer(c.groupConf(group))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	if err := cons.Subscribe(topic, nil); err != nil {
		return nil, err
	}
	return readConfluent(ctx, cons, n, true)
}
