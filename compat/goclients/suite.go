package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The suite: one function per feature of the matrix, each run against a
// client through the small client interface below. The Python and
// JavaScript drivers (compat/python, compat/kafkajs) and the
// confluent-kafka-go driver (compat/confluentgo) follow the same steps, so a
// row of docs/compatibility.md means the same thing in every column.

// record is one Kafka record as the suite writes and reads it.
type record struct {
	key, value string
	headers    [][2]string
	ts         time.Time // zero: the client's own produce time
}

// errNotInClient marks a feature the client library itself lacks: the
// matrix cell says n/a with the error's text, not fail.
var errNotInClient = errors.New("not in client")

func notInClient(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotInClient, fmt.Sprintf(format, args...))
}

// client is one Kafka client library driven by the suite.
type client interface {
	// name is the matrix column, e.g. sarama-2.1.
	name() string
	// createTopic creates topic with configs (nil: none) as its topic
	// configs.
	createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error
	deleteTopic(ctx context.Context, topic string) error
	// partitions is the topic's partition count from Metadata; an error if
	// the topic does not exist.
	partitions(ctx context.Context, topic string) (int32, error)
	// produce writes recs, in order, to partition 0 of topic with codec
	// (none, gzip, snappy, lz4, zstd), idempotently if asked.
	produce(ctx context.Context, topic, codec string, idempotent bool, recs []record) error
	// consume reads the first n records of partition 0, without a group.
	consume(ctx context.Context, topic string, n int) ([]record, error)
	// listOffsets is partition 0's start and end offsets and the offset of
	// the first record at or after ts.
	listOffsets(ctx context.Context, topic string, ts time.Time) (start, end, atTS int64, err error)
	// join starts a group member consuming topic.
	join(ctx context.Context, group, topic string) (member, error)
	// consumeGroup reads n records as a member of group, commits them and
	// leaves the group.
	consumeGroup(ctx context.Context, group, topic string, n int) ([]record, error)
	// withSASL is the same library connecting to addr instead and
	// authenticating there with a (over plain TCP: SASL_PLAINTEXT).
	withSASL(addr string, a saslAuth) (client, error)
	// withTLS is the same library connecting to addr instead over TLS
	// with f, verifying the server's certificate for the address dialed,
	// and authenticating there with a (SASL_SSL).
	withTLS(addr string, f tlsFiles, a saslAuth) (client, error)
}

// saslAuth is a client's SASL mechanism (PLAIN, SCRAM-SHA-256) and
// credentials.
type saslAuth struct{ mechanism, user, password string }

// The one user of the authenticating siesta that scripts/compat starts
// (SIESTA_SASL_USERS=compat:compat-secret), and a password that is not
// its own.
const (
	saslUser          = "compat"
	saslPassword      = "compat-secret"
	saslWrongPassword = "not-the-secret"
)

// tlsMechanism is the SASL mechanism the TLS feature authenticates with
// on the TLS siesta (the same user).
const tlsMechanism = "SCRAM-SHA-256"

// tlsFiles are the PEM files of a TLS connection: the CA the server's
// certificate must chain to, and the client's certificate and key (none
// when cert is empty).
type tlsFiles struct{ ca, cert, key string }

// tlsFilesIn are the files internal/tlstest wrote into dir, with the
// client certificate if clientCert is set.
func tlsFilesIn(dir string, clientCert bool) tlsFiles {
	f := tlsFiles{ca: filepath.Join(dir, "ca.pem")}
	if clientCert {
		f.cert, f.key = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	}
	return f
}

// config is f for the pure-Go clients. ServerName is left empty: each of
// them sets it to the host it dials, and the certificate is verified for
// that host.
func (f tlsFiles) config() (*tls.Config, error) {
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", f.ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// member is one running group member.
type member interface {
	// assigned is the member's current assignment of partitions.
	assigned() []int32
	close()
}

var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// recompressCodecs are the compression.type values of the recompress
// feature's topics: the broker stores records produced uncompressed to
// such a topic in its codec, so the client reads batches the broker
// compressed, not its own producer.
var recompressCodecs = []string{"gzip", "snappy", "lz4", "zstd"}

// recompressRecords is how many records each such topic gets.
const recompressRecords = 5

// recompressTopic is the recompress feature's topic for codec.
func recompressTopic(prefix, codec string) string { return prefix + "-recompress-" + codec }

// createRecompressTopics creates the one-partition topic of each of
// recompressCodecs whose compression.type is that codec.
func createRecompressTopics(ctx context.Context, c client, prefix string) error {
	for _, codec := range recompressCodecs {
		if err := c.createTopic(ctx, recompressTopic(prefix, codec), 1, map[string]string{"compression.type": codec}); err != nil {
			return fmt.Errorf("create topic with compression.type=%s: %w", codec, err)
		}
	}
	return nil
}

// output serializes RESULT lines from clients run concurrently.
var output sync.Mutex

func report(c client, feature, status, detail string) {
	output.Lock()
	defer output.Unlock()
	detail = strings.Join(strings.Fields(detail), " ")
	fmt.Printf("RESULT %s %s %s %s\n", c.name(), feature, status, detail)
}

// runSuite runs every feature against c and reports each: the SASL
// features against the authenticating broker at saslAddr, the TLS one
// against the TLS broker at tlsAddr with the certificates in tlsDir.
func runSuite(ctx context.Context, c client, saslAddr, tlsAddr, tlsDir string) {
	prefix := "compat-" + strings.ReplaceAll(c.name(), ".", "_")
	run := func(feature string, f func(ctx context.Context, topic string) (string, error)) {
		ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		start := time.Now()
		detail, err := f(ctx, prefix+"-"+feature)
		took := fmt.Sprintf("(%.1fs)", time.Since(start).Seconds())
		switch {
		case errors.Is(err, errNotInClient):
			_, why, _ := strings.Cut(err.Error(), errNotInClient.Error()+": ")
			report(c, feature, "n/a", why)
		case err != nil:
			report(c, feature, "fail", err.Error()+" "+took)
		default:
			report(c, feature, "pass", detail+" "+took)
		}
	}

	run("create_topic", func(ctx context.Context, topic string) (string, error) {
		if err := c.createTopic(ctx, topic, 3, nil); err != nil {
			return "", err
		}
		n, err := c.partitions(ctx, topic)
		if err != nil || n != 3 {
			return "", fmt.Errorf("metadata after create: %d partitions, %v; want 3", n, err)
		}
		return "3 partitions", nil
	})
	for _, codec := range codecs {
		run("produce_"+codec, func(ctx context.Context, topic string) (string, error) {
			return produceAndRead(ctx, c, topic, codec, false, 20)
		})
	}
	run("recompress", func(ctx context.Context, _ string) (string, error) {
		if err := createRecompressTopics(ctx, c, prefix); err != nil {
			return "", err
		}
		for _, codec := range recompressCodecs {
			topic := recompressTopic(prefix, codec)
			want := values(topic, recompressRecords)
			if err := c.produce(ctx, topic, "none", false, want); err != nil {
				return "", fmt.Errorf("%s: produce: %w", codec, err)
			}
			got, err := c.consume(ctx, topic, len(want))
			if err != nil {
				return "", fmt.Errorf("%s: consume: %w", codec, err)
			}
			if err := sameValues(got, want); err != nil {
				return "", fmt.Errorf("%s: %w", codec, err)
			}
		}
		return fmt.Sprintf("%d records produced uncompressed read back from each of 4 topics with compression.type gzip, snappy, lz4 and zstd", recompressRecords), nil
	})
	run("consume_beginning", func(ctx context.Context, topic string) (string, error) {
		return produceAndRead(ctx, c, topic, "none", false, 50)
	})
	run("keys_headers_timestamps", func(ctx context.Context, topic string) (string, error) {
		ts := time.UnixMilli(1700000000000)
		want := make([]record, 3)
		for i := range want {
			want[i] = record{
				key:     fmt.Sprintf("key-%d", i),
				value:   fmt.Sprintf("value-%d", i),
				headers: [][2]string{{"h1", fmt.Sprint(i)}, {"h2", "two"}},
				ts:      ts.Add(time.Duration(i) * time.Second),
			}
		}
		if err := newTopic(ctx, c, topic); err != nil {
			return "", err
		}
		if err := c.produce(ctx, topic, "none", false, want); err != nil {
			return "", fmt.Errorf("produce: %w", err)
		}
		got, err := c.consume(ctx, topic, len(want))
		if err != nil {
			return "", fmt.Errorf("consume: %w", err)
		}
		for i := range want {
			if d := diffRecord(got[i], want[i]); d != "" {
				return "", fmt.Errorf("record %d: %s", i, d)
			}
		}
		return "key, 2 headers and a set timestamp read back", nil
	})
	run("group_rebalance", func(ctx context.Context, topic string) (string, error) {
		if err := c.createTopic(ctx, topic, 4, nil); err != nil {
			return "", fmt.Errorf("create topic: %w", err)
		}
		group := topic
		a, err := c.join(ctx, group, topic)
		if err != nil {
			return "", fmt.Errorf("first member: %w", err)
		}
		defer a.close()
		if err := waitFor(ctx, func() bool { return len(a.assigned()) == 4 }); err != nil {
			return "", fmt.Errorf("first member alone: assigned %v, want all 4", a.assigned())
		}
		b, err := c.join(ctx, group, topic)
		if err != nil {
			return "", fmt.Errorf("second member: %w", err)
		}
		defer b.close()
		split := func() bool {
			pa, pb := a.assigned(), b.assigned()
			all := slices.Sorted(slices.Values(append(slices.Clone(pa), pb...)))
			return len(pa) > 0 && len(pb) > 0 && slices.Equal(all, []int32{0, 1, 2, 3})
		}
		if err := waitFor(ctx, split); err != nil {
			return "", fmt.Errorf("after the second joined: assigned %v and %v, want 4 partitions split", a.assigned(), b.assigned())
		}
		return fmt.Sprintf("rebalanced to %v + %v", a.assigned(), b.assigned()), nil
	})
	run("commit_resume", func(ctx context.Context, topic string) (string, error) {
		group := topic
		first, second := values("first", 10), values("second", 5)
		if err := newTopic(ctx, c, topic); err != nil {
			return "", err
		}
		if err := c.produce(ctx, topic, "none", false, first); err != nil {
			return "", fmt.Errorf("produce: %w", err)
		}
		got, err := c.consumeGroup(ctx, group, topic, len(first))
		if err != nil {
			return "", fmt.Errorf("first member: %w", err)
		}
		if err := sameValues(got, first); err != nil {
			return "", fmt.Errorf("first member: %w", err)
		}
		if err := c.produce(ctx, topic, "none", false, second); err != nil {
			return "", fmt.Errorf("produce: %w", err)
		}
		got, err = c.consumeGroup(ctx, group, topic, len(second))
		if err != nil {
			return "", fmt.Errorf("second member: %w", err)
		}
		if err := sameValues(got, second); err != nil {
			return "", fmt.Errorf("second member did not resume at the commit: %w", err)
		}
		return "resumed at the committed offset 10", nil
	})
	run("list_offsets", func(ctx context.Context, topic string) (string, error) {
		base := time.UnixMilli(1700000000000)
		recs := values("ts", 10)
		for i := range recs {
			recs[i].ts = base.Add(time.Duration(i) * time.Second)
		}
		if err := newTopic(ctx, c, topic); err != nil {
			return "", err
		}
		if err := c.produce(ctx, topic, "none", false, recs); err != nil {
			return "", fmt.Errorf("produce: %w", err)
		}
		start, end, at, err := c.listOffsets(ctx, topic, base.Add(5*time.Second))
		if err != nil {
			return "", err
		}
		if start != 0 || end != 10 || at != 5 {
			return "", fmt.Errorf("earliest %d, latest %d, by timestamp %d; want 0, 10, 5", start, end, at)
		}
		return "earliest, latest and by timestamp", nil
	})
	run("idempotent", func(ctx context.Context, topic string) (string, error) {
		return produceAndRead(ctx, c, topic, "none", true, 20)
	})
	run("delete_topic", func(ctx context.Context, topic string) (string, error) {
		topic = prefix + "-create_topic"
		if err := c.deleteTopic(ctx, topic); err != nil {
			return "", err
		}
		if err := waitFor(ctx, func() bool { _, err := c.partitions(ctx, topic); return err != nil }); err != nil {
			return "", fmt.Errorf("topic still in metadata after delete")
		}
		return "gone from metadata", nil
	})
	run("sasl_plain", func(ctx context.Context, topic string) (string, error) {
		return authenticate(ctx, c, saslAddr, "PLAIN", topic)
	})
	run("sasl_scram", func(ctx context.Context, topic string) (string, error) {
		return authenticate(ctx, c, saslAddr, "SCRAM-SHA-256", topic)
	})
	run("tls", func(ctx context.Context, topic string) (string, error) {
		return overTLS(ctx, c, tlsAddr, tlsDir, topic)
	})
}

// refusalTimeout bounds a client with a wrong password (or without a
// client certificate): one that retries a refused connection until then
// has not produced, so it counts as refused.
const refusalTimeout = 10 * time.Second

// authenticate produces a record to topic on the authenticating broker at
// addr with the right password and reads it back, then checks that the
// same library with a wrong password cannot produce.
func authenticate(ctx context.Context, c client, addr, mechanism, topic string) (string, error) {
	if addr == "" {
		return "", errors.New("no authenticating broker given (-sasl-broker)")
	}
	good, err := c.withSASL(addr, saslAuth{mechanism, saslUser, saslPassword})
	if err != nil {
		return "", err
	}
	if _, err := produceAndRead(ctx, good, topic, "none", false, 1); err != nil {
		return "", fmt.Errorf("with the right password: %w", err)
	}
	bad, err := c.withSASL(addr, saslAuth{mechanism, saslUser, saslWrongPassword})
	if err != nil {
		return "", err
	}
	took, err := refused(ctx, bad, topic)
	if err == nil {
		return "", errors.New("a client with a wrong password produced")
	}
	return fmt.Sprintf("1 record produced and read back as %s; a wrong password refused in %.1fs: %s", saslUser, took.Seconds(), err), nil
}

// refused tries to produce a record with bad, a client that should be
// refused, for up to refusalTimeout, and returns how long that took and
// the error the client got (nil if it produced).
func refused(ctx context.Context, bad client, topic string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, refusalTimeout)
	defer cancel()
	start := time.Now()
	err := bad.produce(ctx, topic, "none", false, values("refused", 1))
	return time.Since(start), err
}

// overTLS produces a record to topic on the TLS broker at addr and reads
// it back, verifying the server against the CA in dir, presenting the
// client certificate there and authenticating with tlsMechanism
// (SASL_SSL), then checks that the same library without the client
// certificate cannot produce.
func overTLS(ctx context.Context, c client, addr, dir, topic string) (string, error) {
	if addr == "" || dir == "" {
		return "", errors.New("no TLS broker and certificate directory given (-tls-broker, -tls-dir)")
	}
	auth := saslAuth{tlsMechanism, saslUser, saslPassword}
	good, err := c.withTLS(addr, tlsFilesIn(dir, true), auth)
	if err != nil {
		return "", err
	}
	if _, err := produceAndRead(ctx, good, topic, "none", false, 1); err != nil {
		return "", fmt.Errorf("with the client certificate: %w", err)
	}
	bad, err := c.withTLS(addr, tlsFilesIn(dir, false), auth)
	if err != nil {
		return "", err
	}
	took, err := refused(ctx, bad, topic)
	if err == nil {
		return "", errors.New("a client without a certificate produced")
	}
	return fmt.Sprintf("1 record produced and read back over TLS as %s; without a client certificate refused in %.1fs: %s", saslUser, took.Seconds(), err), nil
}

func produceAndRead(ctx context.Context, c client, topic, codec string, idempotent bool, n int) (string, error) {
	if err := newTopic(ctx, c, topic); err != nil {
		return "", err
	}
	want := values(codec, n)
	if err := c.produce(ctx, topic, codec, idempotent, want); err != nil {
		return "", fmt.Errorf("produce: %w", err)
	}
	got, err := c.consume(ctx, topic, n)
	if err != nil {
		return "", fmt.Errorf("consume: %w", err)
	}
	if err := sameValues(got, want); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d records read back in order", n), nil
}

// values is n compressible records named by prefix.
func values(prefix string, n int) []record {
	recs := make([]record, n)
	for i := range recs {
		recs[i] = record{key: fmt.Sprintf("k%d", i), value: fmt.Sprintf("%s-%d %s", prefix, i, strings.Repeat("siesta ", 10))}
	}
	return recs
}

func sameValues(got, want []record) error {
	if len(got) != len(want) {
		return fmt.Errorf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].value != want[i].value {
			return fmt.Errorf("record %d is %.20q, want %.20q", i, got[i].value, want[i].value)
		}
	}
	return nil
}

func diffRecord(got, want record) string {
	switch {
	case got.key != want.key || got.value != want.value:
		return fmt.Sprintf("key/value %q/%q, want %q/%q", got.key, got.value, want.key, want.value)
	case !slices.Equal(got.headers, want.headers):
		return fmt.Sprintf("headers %q, want %q", got.headers, want.headers)
	case !got.ts.Equal(want.ts):
		return fmt.Sprintf("timestamp %d, want %d", got.ts.UnixMilli(), want.ts.UnixMilli())
	}
	return ""
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// assignment is a member's partitions, safe to update from a client's
// callbacks while the suite reads it.
type assignment struct {
	mu    sync.Mutex
	parts []int32
}

func (a *assignment) set(parts []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.parts = slices.Sorted(slices.Values(parts))
}

func (a *assignment) get() []int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.parts)
}

// newTopic creates a one-partition topic for a feature: franz-go, like the
// Java client, does not ask Metadata to auto-create topics.
func newTopic(ctx context.Context, c client, topic string) error {
	if err := c.createTopic(ctx, topic, 1, nil); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}
