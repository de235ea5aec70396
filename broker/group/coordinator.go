// Package group is siesta's consumer-group coordinator: the classic Kafka
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets, with all durable state kept in an objectstore.Bucket.
//
// siesta is leaderless: every broker answers FindCoordinator with itself, so
// the members of one group may talk to different brokers, each with its own
// Coordinator over the same bucket. The bucket is therefore the source of
// truth. Every state change is a read-modify-write of one JSON document per
// group, made with a conditional put and retried when another broker won the
// race. A Coordinator's memory holds only a cache of those documents, the
// time each locally connected member was last heard from, and the waiters
// blocked in JoinGroup and SyncGroup.
//
// Heartbeats do not write to the bucket. A member's liveness is a lease in
// the group document; the broker the member talks to extends the lease only
// when it is at least half used, for all of its members of the group in one
// write. Any Coordinator that sees a lease run out removes the member, which
// starts a rebalance.
package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/siestamq/siesta/objectstore"
)

// Options tunes a Coordinator. The zero value gives Kafka's defaults.
type Options struct {
	// PollInterval is how often a waiter (JoinGroup/SyncGroup barrier,
	// rebalance detection) re-reads group state from the bucket when other
	// brokers may have changed it. Default 100ms.
	PollInterval time.Duration

	// MinSessionTimeout and MaxSessionTimeout bound the client's session
	// timeout (Kafka's group.min/max.session.timeout.ms). Defaults 6s and
	// 30min.
	MinSessionTimeout, MaxSessionTimeout time.Duration

	// InitialRebalanceDelay is Kafka's group.initial.rebalance.delay.ms: how
	// long the first rebalance of an empty group waits for more members
	// before completing. Default 0.
	InitialRebalanceDelay time.Duration

	// SweepInterval is how often the Coordinator renews the leases of its
	// members, removes members whose leases ran out and completes rebalances
	// whose deadlines passed, for the groups it has served. It must be well
	// under half the shortest session timeout. Default 1s.
	SweepInterval time.Duration

	// ApplyTimeout bounds how long after a request arrives the change it
	// asks for (an offset commit, a join's member metadata, a leave, a
	// deletion) may still be written; past it the request fails as
	// retriable and writes nothing. Clients give up on a request after
	// 10 s (franz-go) to 30 s (the Java client, sarama, librdkafka,
	// KafkaJS) and send it again; a change written after that, on a slow
	// or failing store, would undo what the retry and the requests after
	// it wrote (a commit moving a partition's offset back). Default 5s.
	ApplyTimeout time.Duration

	// Topics looks up a topic's id, partition count and creation time,
	// with an error wrapping objectstore.ErrUnknownTopic when there is no
	// such topic. It may answer from a cache.
	// With it, commits to partitions that do not exist are refused
	// (UNKNOWN_TOPIC_OR_PARTITION, as Kafka does), and each commit keeps
	// its topic's id, so that a topic deleted and created again under the
	// same name does not inherit the old topic's committed offsets (Kafka
	// removes them with the topic). Nil skips both.
	Topics func(ctx context.Context, topic string) (Topic, error)

	// Now returns the current time; tests may replace it. Default time.Now.
	Now func() time.Time
}

// Topic is what Options.Topics says of a topic.
type Topic struct {
	ID         string
	Partitions int32
	CreatedMs  int64 // when it was created, Unix milliseconds
}

func (o *Options) setDefaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MinSessionTimeout <= 0 {
		o.MinSessionTimeout = 6 * time.Second
	}
	if o.MaxSessionTimeout <= 0 {
		o.MaxSessionTimeout = 30 * time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Coordinator serves the group APIs for one broker. Several Coordinators,
// in one process or many, may share a bucket. It is safe for concurrent use.
type Coordinator struct {
	bucket objectstore.Bucket
	logger *slog.Logger
	opts   Options

	mu     sync.Mutex
	groups map[string]*entry // groups this Coordinator has served

	done   chan struct{} // closed by Close; wakes waiters
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a Coordinator over bucket and starts its background sweep.
// Call Close to stop it.
func New(bucket objectstore.Bucket, logger *slog.Logger, opts Options) *Coordinator {
	opts.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		bucket: bucket,
		logger: logger,
		opts:   opts,
		groups: make(map[string]*entry),
		done:   make(chan struct{}),
		cancel: cancel,
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sweepLoop(ctx)
	}()
	return c
}

// Close stops the background sweep, wakes every waiter (which then answers
// COORDINATOR_NOT_AVAILABLE) and waits for the sweep to return. It does not
// close the bucket.
func (c *Coordinator) Close() {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
	})
	c.wg.Wait()
}

func (c *Coordinator) now() time.Time { return c.opts.Now() }

// errClosed is returned to waiters when the Coordinator shuts down.
var errClosed = errors.New("group coordinator closed")

// errorCode is the one place that turns an error into a Kafka error code.
// Protocol errors are *kerr.Error values; anything else is a storage failure
// or a cancelled request, and is retriable on another coordinator.
func (c *Coordinator) errorCode(op, group string, err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, errClosed) {
		c.logger.Warn("group coordinator storage error", "op", op, "group", group, "err", err)
	}
	return kerr.CoordinatorNotAvailable.Code
}

// applying returns the context a request's change is written under: it
// ends ApplyTimeout after the request arrived (now, for the callers).
func (c *Coordinator) applying(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.ApplyTimeout)
}

// clientKey is the context key for the connection's client id and host.
type clientKey struct{}

type clientInfo struct {
	id, host string
}

// WithClient returns a context carrying the client id (from the request
// header) and client host (the connection's remote address) of the
// connection a request arrived on. JoinGroup uses them to name new members
// (clientID-uuid, as Kafka does) and DescribeGroups reports them.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{id: clientID, host: clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

// newMemberID returns prefix-uuid, Kafka's member id format.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
