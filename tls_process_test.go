package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/internal/tlstest"
)

// The shipped binary with SIESTA_TLS_CERT, SIESTA_TLS_KEY and
// SIESTA_TLS_CLIENT_CA serves clients with a certificate over TLS, and
// serves a renewed certificate once its files change, without a restart.
func TestBinaryServesTLS(t *testing.T) {
	files := tlstest.New(t)
	storage := brokerStorage{
		URL: "sqlite://" + filepath.Join(t.TempDir(), "siesta.db"),
		Env: []string{"SIESTA_TLS_CERT=" + files.Cert, "SIESTA_TLS_KEY=" + files.Key, "SIESTA_TLS_CLIENT_CA=" + files.CA},
	}
	b := startBrokerProcess(t, storage)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("tls"),
		kgo.DialTLSConfig(files.ClientConfig(t, true)),
		kgo.ConsumeTopics("tls"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if recs := cl.PollFetches(ctx).Records(); len(recs) != 1 || string(recs[0].Value) != "over tls" {
		t.Fatalf("consumed %v", recs)
	}

	// Renew: a new server certificate from a new CA, written over the old
	// files. Clients trust both CAs; the serial tells which one is served.
	renewed := tlstest.New(t)
	cfg := files.ClientConfig(t, true)
	caPEM, err := os.ReadFile(renewed.CA)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs.AppendCertsFromPEM(caPEM)
	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", b.addr, cfg)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	before := served()
	for _, f := range [][2]string{{renewed.Cert, files.Cert}, {renewed.Key, files.Key}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for served().SerialNumber.Cmp(before.SerialNumber) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The certificate and key can come as PEM in the environment itself, as
// a platform's secrets do (fly secrets set SIESTA_TLS_KEY="$(cat key.pem)").
func TestBinaryServesTLSFromEnvironment(t *testing.T) {
	files := tlstest.New(t)
	storage := brokerStorage{
		URL: "memory://",
		Env: []string{"SIESTA_TLS_CERT=" + tlstest.ReadPEM(t, files.Cert), "SIESTA_TLS_KEY=" + tlstest.ReadPEM(t, files.Key)},
	}
	b := startBrokerProcess(t, storage)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("tls-env"),
		kgo.DialTLSConfig(files.ClientConfig(t, false)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}
