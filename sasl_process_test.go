package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
