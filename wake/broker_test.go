package wake_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/broker"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
	"github.com/siestamq/siesta/wake"
)

// A real broker stays up while a consumer is connected, even one that only
// long-polls, and is idle a timeout after the last client leaves, having
// made no storage request in between.
func TestBrokerIdle(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond

	bucket := objectstore.NewCountingBucket(memory.New())
	engine := objectstore.New(bucket, objectstore.Options{TailRefresh: 50 * time.Millisecond})
	defer engine.Close()
	srv, err := broker.New(broker.Config{Engine: engine, AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, activated, err := wake.Listener("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if activated {
		t.Fatal("activated without LISTEN_FDS")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	idle := make(chan error, 1)
	go func() { idle <- wake.WaitIdle(ctx, srv, timeout, 0) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.AllowAutoTopicCreation(),
		kgo.DefaultProduceTopic("wake"), kgo.ConsumeTopics("wake"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Consume the record, then keep long-polling at the end of the log
	// for several timeouts.
	pollCtx, stopPolling := context.WithTimeout(ctx, 4*timeout)
	defer stopPolling()
	var got int
	for pollCtx.Err() == nil {
		got += len(cl.PollFetches(pollCtx).Records())
		select {
		case err := <-idle:
			t.Fatalf("idle (%v) while a consumer was connected", err)
		default:
		}
	}
	if got != 1 {
		t.Fatalf("consumed %d records, want 1", got)
	}

	cl.Close()
	left := time.Now()
	for {
		if conns, _, _ := srv.Activity(); conns == 0 {
			break
		}
		if time.Since(left) > 5*time.Second {
			t.Fatal("connections still open 5s after the client closed")
		}
		time.Sleep(time.Millisecond)
	}
	before := bucket.Counts().Total()
	select {
	case err := <-idle:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(timeout + 5*time.Second):
		t.Fatal("not idle 5s after the timeout")
	}
	if after := time.Since(left); after < timeout {
		t.Errorf("idle %v after the client left, want at least %v", after, timeout)
	}
	if n := bucket.Counts().Total() - before; n != 0 {
		t.Errorf("%d storage requests while idle, want none", n)
	}

	// What main does next: drain and stop.
	drainCtx, drainCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer drainCancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting after shutdown")
	}
}
