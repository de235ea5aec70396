package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// franz is twmb/franz-go. It negotiates the newest version of every API
// through ApiVersions, as the Java client does: flexible requests,
// idempotent produce by default, KIP-394 member ids on JoinGroup.
type franz struct {
	addr string
	mech sasl.Mechanism // nil: no SASL
	tls  *tls.Config    // nil: plain TCP
}

func (f franz) name() string { return "franz-go" }

func franzMechanism(a saslAuth) (sasl.Mechanism, error) {
	switch a.mechanism {
	case "PLAIN":
		return plain.Auth{User: a.user, Pass: a.password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: a.user, Pass: a.password}.AsSha256Mechanism(), nil
	}
	return nil, fmt.Errorf("no SASL mechanism %s in this driver", a.mechanism)
}

func (f franz) withSASL(addr string, a saslAuth) (client, error) {
	mech, err := franzMechanism(a)
	if err != nil {
		return nil, err
	}
	return franz{addr: addr, mech: mech}, nil
}

func (f franz) withTLS(addr string, files tlsFiles, a saslAuth) (client, error) {
	mech, err := franzMechanism(a)
	if err != nil {
		return nil, err
	}
	cfg, err := files.config()
	if err != nil {
		return nil, err
	}
	return franz{addr: addr, mech: mech, tls: cfg}, nil
}

func (f franz) opts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(f.addr), kgo.ClientID("compat-" + f.name()), kgo.FetchMaxWait(200 * time.Millisecond)}
	if f.mech != nil {
		opts = append(opts, kgo.SASL(f.mech))
	}
	if f.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(f.tls))
	}
	return append(opts, extra...)
}

func (f franz) admin(ctx context.Context) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(f.opts()...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func (f franz) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	adm, done, err := f.admin(ctx)
	if err != nil {
		return err
	}
	defer done()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

func (f franz) deleteTopic(ctx context.Context, topic string) error {
	adm, done, err := f.admin(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

func (f franz) partitions(ctx context.Context, topic string) (int32, error) {
	adm, done, err := f.admin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return 0, fmt.Errorf("topic %s: %v", topic, d.Err)
	}
	return int32(len(d.Partitions)), nil
}

func (f franz) produce(ctx context.Context, topic, codec string, idempotent bool, recs []record) error {
	var c kgo.CompressionCodec
	switch codec {
	case "none":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	}
	opts := f.opts(kgo.ProducerBatchCompression(c), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	var connErr lastConnectErr
	cl, err := kgo.NewClient(append(opts, kgo.WithHooks(&connErr))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Key: []byte(r.key), Value: []byte(r.value), Timestamp: r.ts}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
		krs[i] = kr
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		if cerr := connErr.get(); cerr != nil {
			return fmt.Errorf("%w (last connection: %v)", err, cerr)
		}
		return err
	}
	return nil
}

// lastConnectErr keeps the last failed connection to a broker, a refused
// authentication included: the producer retries such a connection until
// its context ends, so its own error does not say why.
type lastConnectErr struct {
	mu  sync.Mutex
	err error
}

func (l *lastConnectErr) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.err = err
	}
}

func (l *lastConnectErr) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func fromKgo(rs []*kgo.Record) []record {
	out := make([]record, len(rs))
	for i, r := range rs {
		out[i] = record{key: string(r.Key), value: string(r.Value), ts: r.Timestamp}
		for _, h := range r.Headers {
			out[i].headers = append(out[i].headers, [2]string{h.Key, string(h.Value)})
		}
	}
	return out
}

// poll reads until n records arrived.
func poll(ctx context.Context, cl *kgo.Client, n int) ([]*kgo.Record, error) {
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got, fmt.Errorf("read %d of %d records: %w", len(got), n, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return got, err
		}
		got = append(got, fs.Records()...)
	}
	return got, nil
}

func (f franz) consume(ctx context.Context, topic string, n int) ([]record, error) {
	cl, err := kgo.NewClient(f.opts(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got, err := poll(ctx, cl, n)
	return fromKgo(got), err
}

func (f franz) listOffsets(ctx context.Context, topic string, ts time.Time) (start, end, atTS int64, err error) {
	adm, done, err := f.admin(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer done()
	offset := func(l kadm.ListedOffsets, err error) int64 {
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			return -1
		}
		o, _ := l.Lookup(topic, 0)
		return o.Offset
	}
	start = offset(adm.ListStartOffsets(ctx, topic))
	end = offset(adm.ListEndOffsets(ctx, topic))
	atTS = offset(adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topic))
	return start, end, atTS, nil
}

type franzMember struct {
	cl     *kgo.Client
	parts  assignment
	cancel context.CancelFunc
	done   chan struct{}
}

func (f franz) join(ctx context.Context, group, topic string) (member, error) {
	m := &franzMember{done: make(chan struct{})}
	cur := map[int32]bool{}
	update := func(ps map[string][]int32, on bool) {
		for _, p := range ps[topic] {
			cur[p] = on
		}
		var parts []int32
		for p, on := range cur {
			if on {
				parts = append(parts, p)
			}
		}
		m.parts.set(parts)
	}
	cl, err := kgo.NewClient(f.opts(
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
	)...)
	if err != nil {
		return nil, err
	}
	m.cl = cl
	pctx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	go func() {
		defer close(m.done)
		for pctx.Err() == nil {
			cl.PollFetches(pctx)
		}
	}()
	return m, nil
}

func (m *franzMember) assigned() []int32 { return m.parts.get() }
func (m *franzMember) close()            { m.cancel(); <-m.done; m.cl.Close() }

func (f franz) consumeGroup(ctx context.Context, group, topic string, n int) ([]record, error) {
	cl, err := kgo.NewClient(f.opts(
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got, err := poll(ctx, cl, n)
	if err != nil {
		return nil, err
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if len(got) > n {
		return fromKgo(got), errors.New("read past the records produced")
	}
	return fromKgo(got), nil
}
