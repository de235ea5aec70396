package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siestamq/siesta/broker/sasl"
	"github.com/siestamq/siesta/infra/tlsfiles"
	"github.com/siestamq/siesta/internal/tlstest"
)

// End-to-end tests of TLS listeners (Config.TLS) with real clients:
// franz-go, librdkafka (kcat) and sarama, alone and with SASL and client
// certificates.

// startTLSBroker starts a broker serving TLS with files' server
// certificate; with clientCA it requires client certificates of files'
// CA.
func startTLSBroker(t *testing.T, files tlstest.Files, clientCA bool, mutate ...func(*Config)) *testBroker {
	t.Helper()
	paths := tlsfiles.Paths{Cert: files.Cert, Key: files.Key}
	if clientCA {
		paths.ClientCA = files.CA
	}
	certs, err := tlsfiles.Load(paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	return startBroker(t, nil, append([]func(*Config){func(c *Config) { c.TLS = certs.Config() }}, mutate...)...)
}

func TestTLSFranzGo(t *testing.T) {
	files := tlstest.New(t)
	users := sasl.NewUsers(map[string]string{saslUser: saslPassword})
	tests := []struct {
		name     string
		clientCA bool
		users    *sasl.Users
		opts     []kgo.Opt
	}{
		{name: "TLS", opts: []kgo.Opt{kgo.DialTLSConfig(files.ClientConfig(t, false))}},
		{name: "TLS with client certificate", clientCA: true, opts: []kgo.Opt{kgo.DialTLSConfig(files.ClientConfig(t, true))}},
		{name: "SASL over TLS", users: users, opts: []kgo.Opt{
			kgo.DialTLSConfig(files.ClientConfig(t, false)),
			kgo.SASL(scram.Auth{User: saslUser, Pass: saslPassword}.AsSha256Mechanism()),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startTLSBroker(t, files, tt.clientCA, func(c *Config) { c.Users = tt.users })
			topic := "tls-" + strings.ReplaceAll(strings.ToLower(tt.name), " ", "-")
			ctx := testContext(t, 20*time.Second)
			cl := b.client(t, append(tt.opts, kgo.DefaultProduceTopic(topic))...)
			for _, v := range []string{"a", "b", "c"} {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			recs := consumeN(t, b, topic, 3, append(tt.opts, kgo.ConsumerGroup("g-"+topic))...)
			if got := string(recs[0].Value) + string(recs[1].Value) + string(recs[2].Value); got != "abc" {
				t.Fatalf("consumed %q, want abc", got)
			}
		})
	}
}

// TestTLSRefusesWhatIsNotTLS checks that clients that do not complete a
// handshake the broker accepts are closed, promptly and unanswered:
// plaintext Kafka, a client that trusts another CA, a client without the
// required certificate, and one that connects and says nothing.
func TestTLSRefusesWhatIsNotTLS(t *testing.T) {
	files := tlstest.New(t)
	other := tlstest.New(t)
	b := startTLSBroker(t, files, true, func(c *Config) { c.TLSHandshakeTimeout = 300 * time.Millisecond })

	t.Run("plaintext request", func(t *testing.T) {
		nc := dialBroker(t, b.addr)
		if _, err := nc.Write(rawRequest(kmsg.NewPtrApiVersionsRequest(), 1)); err != nil {
			t.Fatal(err)
		}
		// The broker answers with a TLS alert at most, never a Kafka
		// response, and closes.
		data, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("read: %v, want the connection closed", err)
		}
		if len(data) > 7 {
			t.Fatalf("broker sent %d bytes to a plaintext client: %q", len(data), data)
		}
	})
	t.Run("silent client", func(t *testing.T) {
		nc := dialBroker(t, b.addr)
		start := time.Now()
		if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("read: %v, want EOF from the broker closing the connection", err)
		}
		t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
	})
	clients := map[string]*tls.Config{
		"client trusting another CA":   other.ClientConfig(t, true),
		"client without a certificate": files.ClientConfig(t, false),
		"client certificate of another CA": func() *tls.Config {
			cfg := files.ClientConfig(t, false)
			cfg.Certificates = other.ClientConfig(t, true).Certificates
			return cfg
		}(),
	}
	for name, cfg := range clients {
		t.Run(name, func(t *testing.T) {
			cl := b.client(t, kgo.DialTLSConfig(cfg), kgo.RequestRetries(0))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.Ping(ctx); err == nil {
				t.Fatal("ping succeeded")
			}
		})
	}
	t.Run("counted", func(t *testing.T) {
		// plaintext, silent, and the three refused clients; a client may
		// see its refusal before the broker has counted it.
		deadline := time.Now().Add(5 * time.Second)
		for metric(t, b.srv, `siesta_failed_authentications_total{kind="tls"}`) < 5 {
			if time.Now().After(deadline) {
				t.Fatalf("failed TLS handshakes counted: %d, want at least 5", metric(t, b.srv, `siesta_failed_authentications_total{kind="tls"}`))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("a good client still works", func(t *testing.T) {
		cl := b.client(t, kgo.DialTLSConfig(files.ClientConfig(t, true)))
		if err := cl.Ping(testContext(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTLSShutdownClosesHandshakingConnections checks that a connection
// still in its handshake does not hold a draining broker.
func TestTLSShutdownClosesHandshakingConnections(t *testing.T) {
	files := tlstest.New(t)
	b := startTLSBroker(t, files, false, func(c *Config) { c.TLSHandshakeTimeout = time.Minute })
	nc := dialBroker(t, b.addr)
	// Wait until the broker counts the connection.
	deadline := time.Now().Add(5 * time.Second)
	for conns, _, _ := b.srv.Activity(); conns == 0; conns, _, _ = b.srv.Activity() {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a connection in its handshake: %v", err)
	}
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v, want EOF", err)
	}
}

func TestTLSKcat(t *testing.T) {
	kcatPath(t)
	files := tlstest.New(t)
	ssl := []string{"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + files.CA}
	clientCert := []string{"-X", "ssl.certificate.location=" + files.ClientCert, "-X", "ssl.key.location=" + files.ClientKey}
	tests := []struct {
		name     string
		clientCA bool
		users    *sasl.Users
		args     []string
	}{
		{name: "ssl", args: ssl},
		{name: "ssl-client-certificate", clientCA: true, args: append(append([]string{}, ssl...), clientCert...)},
		{name: "sasl-ssl", users: sasl.NewUsers(map[string]string{saslUser: saslPassword}), args: []string{
			"-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + files.CA,
			"-X", "sasl.mechanisms=" + sasl.ScramSHA512, "-X", "sasl.username=" + saslUser, "-X", "sasl.password=" + saslPassword,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startTLSBroker(t, files, tt.clientCA, func(c *Config) { c.Users = tt.users })
			topic := "kcat-" + tt.name
			kcatRoundTrip(t, b, topic, tt.args...)
		})
	}
}

func TestTLSSarama(t *testing.T) {
	files := tlstest.New(t)
	b := startTLSBroker(t, files, true)
	cfg := saramaConfig(sarama.V3_6_0_0)
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = files.ClientConfig(t, true)
	producer := saramaSyncProducer(t, b, cfg)
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "sarama-tls", Value: sarama.StringEncoder("v")}); err != nil {
		t.Fatalf("produce: %v", err)
	}
	recs := consumeN(t, b, "sarama-tls", 1, kgo.DialTLSConfig(files.ClientConfig(t, true)))
	if string(recs[0].Value) != "v" {
		t.Fatalf("consumed %q", recs[0].Value)
	}
}

// metric reads one sample of the server's Prometheus text.
func metric(t *testing.T, srv *Server, series string) int64 {
	t.Helper()
	var out strings.Builder
	if err := srv.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in:\n%s", series, out.String())
	return 0
}

// TestTLSClosesWithCloseNotify: a TLS connection the broker ends (here
// one idle past ConnectionMaxIdle) is closed with the close_notify alert,
// which clients on OpenSSL 3 otherwise report as an unexpected EOF. Go's
// client reads both as io.EOF, so the test counts what arrives on the
// socket after the handshake: with TLS 1.2 and no request, that is the
// alert and nothing else.
func TestTLSClosesWithCloseNotify(t *testing.T) {
	files := tlstest.New(t)
	b := startTLSBroker(t, files, false, func(c *Config) { c.ConnectionMaxIdle = 100 * time.Millisecond })
	raw := &countingConn{Conn: dialBroker(t, b.addr)}
	cfg := files.ClientConfig(t, false)
	cfg.MaxVersion = tls.VersionTLS12
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	afterHandshake := raw.read.Load()
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a connection the broker closed: %v, want io.EOF", err)
	}
	if got := raw.read.Load() - afterHandshake; got == 0 {
		t.Fatal("the broker closed the connection without a close_notify alert")
	}
}

// countingConn counts the bytes read through it.
type countingConn struct {
	net.Conn
	read atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
