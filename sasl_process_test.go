package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The shipped binary with SIESTA_SASL_USERS serves a SCRAM client and
// refuses one with a wrong password and one that does not authenticate.
func TestBinaryRequiresSASL(t *testing.T) {
	storage := brokerStorage{
		URL: "sqlite://" + filepath.Join(t.TempDir(), "siesta.db"),
		Env: []string{"SIESTA_SASL_USERS=app:right-password,ops:other"},
	}
	b := startBrokerProcess(t, storage)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RequestRetries(0), kgo.AllowAutoTopicCreation()}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}

	good := client(kgo.SASL(scram.Auth{User: "app", Pass: "right-password"}.AsSha512Mechanism()), kgo.DefaultProduceTopic("secured"))
	if err := good.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce as app: %v", err)
	}
	wrong := client(kgo.SASL(scram.Auth{User: "app", Pass: "wrong-password"}.AsSha512Mechanism()))
	if err := wrong.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	anonymous := client()
	if err := anonymous.Ping(ctx); err == nil {
		t.Fatal("a client without SASL was served")
	}
}

// `siesta scram-credential` makes an entry for SIESTA_SASL_USERS that
// holds no password; the shipped binary serves that user with SCRAM and
// with PLAIN, and refuses a wrong password.
func TestBinaryStoredCredential(t *testing.T) {
	bin := siestaBinary(t)
	cmd := exec.Command(bin, "scram-credential", "app")
	cmd.Stdin = strings.NewReader("right-password\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scram-credential: %v", err)
	}
	entry := strings.TrimSpace(string(out))
	if !strings.HasPrefix(entry, "app:scram-sha-256:4096:") || strings.Contains(entry, "right-password") {
		t.Fatalf("scram-credential printed %q", entry)
	}
	b := startBrokerProcess(t, brokerStorage{URL: "memory://", Env: []string{"SIESTA_SASL_USERS=" + entry}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, mech := range map[string]kgosasl.Mechanism{
		"SCRAM-SHA-256": scram.Auth{User: "app", Pass: "right-password"}.AsSha256Mechanism(),
		"PLAIN":         plain.Auth{User: "app", Pass: "right-password"}.AsMechanism(),
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0), kgo.SASL(mech))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Ping(ctx); err != nil {
			t.Errorf("%s with the right password: %v", name, err)
		}
		cl.Close()
	}
	wrong, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0),
		kgo.SASL(scram.Auth{User: "app", Pass: "wrong-password"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}
