package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
	objs3 "github.com/siestamq/siesta/objectstore/s3"
)

// fault is what faultProxy does to one request. The "before" faults answer
// without forwarding, so the request never reaches the store; the "after"
// faults forward it, so the store applied it, and then lose the answer:
// for a conditional PUT that is the dangerous case, where the client's
// retry fails its own condition against the object its first attempt wrote.
type fault int

const (
	faultNone       fault = iota
	faultError            // 500 InternalError, before forwarding
	faultSlowDown         // 503 SlowDown, before forwarding
	faultDrop             // connection closed without an answer, before forwarding
	faultHang             // nothing for a while, then the connection closed, before forwarding
	faultErrorAfter       // forwarded and applied, then 500 InternalError
	faultDropAfter        // forwarded and applied, then the connection closed
	faultHangAfter        // forwarded and applied, then a hang and a close
	faultSlowAnswer       // forwarded and applied, answered late
	numFaults
)

var faultNames = [numFaults]string{"none", "500", "503 SlowDown", "drop", "hang", "500 after", "drop after", "hang after", "slow answer"}

func (f fault) String() string { return faultNames[f] }

// faultProxy is an HTTP reverse proxy in front of an S3 service that
// injects faults into a share of requests. It forwards the Host header
// unchanged, because SigV4 signs it.
type faultProxy struct {
	URL   string // http://127.0.0.1:PORT
	proxy *httputil.ReverseProxy

	permille atomic.Int64 // share of requests to fault, in thousandths
	hang     time.Duration

	// pick, when set, chooses the fault for a request instead of chance.
	pick func(*http.Request) fault

	mu       sync.Mutex
	rng      *rand.Rand
	counts   [numFaults]int
	condPuts [numFaults]int // of which conditional PUTs
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{hang: 2 * time.Second, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // signed by the client
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		ErrorLog:  nil,
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// setShare makes a share (0 to 1) of requests faulty.
func (p *faultProxy) setShare(share float64) { p.permille.Store(int64(share * 1000)) }

func (p *faultProxy) choose(r *http.Request) fault {
	if p.pick != nil {
		return p.pick(r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Int64N(1000) >= p.permille.Load() {
		return faultNone
	}
	return fault(1 + p.rng.IntN(int(numFaults)-1))
}

func conditionalPut(r *http.Request) bool {
	return r.Method == http.MethodPut && (r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "")
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := p.choose(r)
	p.mu.Lock()
	p.counts[f]++
	if conditionalPut(r) {
		p.condPuts[f]++
	}
	p.mu.Unlock()

	switch f {
	case faultNone:
		p.proxy.ServeHTTP(w, r)
		return
	case faultError:
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case faultSlowDown:
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case faultDrop:
		dropConnection(w)
		return
	case faultHang:
		p.sleep(r, p.hang)
		dropConnection(w)
		return
	}

	// The store applies the request; the client may not learn of it.
	rec := httptest.NewRecorder()
	p.proxy.ServeHTTP(rec, r)
	switch f {
	case faultErrorAfter:
		s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case faultDropAfter:
		dropConnection(w)
	case faultHangAfter:
		p.sleep(r, p.hang)
		dropConnection(w)
	case faultSlowAnswer:
		p.sleep(r, p.hang/2)
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}

func (p *faultProxy) sleep(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

func (p *faultProxy) report() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	total := 0
	for f := range numFaults {
		total += p.counts[f]
	}
	fmt.Fprintf(&b, "%d requests", total)
	for f := faultNone + 1; f < numFaults; f++ {
		fmt.Fprintf(&b, "; %s: %d (%d conditional PUTs)", f, p.counts[f], p.condPuts[f])
	}
	return b.String()
}

// s3Error answers as S3 does when it fails a request.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", "fault")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`,
		code, message, r.URL.Path)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not an orderly close
	}
	conn.Close()
}

// TestFaultyStorage runs idempotent producers and a committing consumer
// group through two brokers whose S3 store fails a share of requests in
// every way the proxy knows. Clients may only see retriable errors and
// must finish; afterwards nothing acknowledged is lost, nothing is stored
// twice, and the offsets are contiguous.
func TestFaultyStorage(t *testing.T) {
	const (
		partitions = 4
		producers  = 3
		consumers  = 2
		produceFor = 15 * time.Second
		share      = 0.15
		group      = "faulty-group"
		topic      = "faulty"
	)
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	proxy := startFaultProxy(t, srv.Endpoint)
	env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}
	faulty := brokerStorage{URL: fmt.Sprintf("s3://%s/siesta?endpoint=%s&region=%s&path_style=true", bucket, proxy.URL, srv.Region), Env: env}
	clean := brokerStorage{URL: fmt.Sprintf("s3://%s/siesta?endpoint=%s&region=%s&path_style=true", bucket, srv.Endpoint, srv.Region), Env: env}

	brokers := []*brokerProcess{
		startBrokerProcess(t, faulty, "--node-id", "1"),
		startBrokerProcess(t, faulty, "--node-id", "2"),
	}
	seeds := []string{brokers[0].addr, brokers[1].addr}
	createTopicVia(t, seeds, topic, partitions)
	proxy.setShare(share)
	start := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()
	acks := newAckLog()
	stop := make(chan struct{})
	var produced sync.WaitGroup
	for i := range producers {
		produced.Go(func() { produceUnique(ctx, t, stop, seeds, topic, partitions, fmt.Sprintf("p%d", i), acks) })
	}

	consumed := newGroupLog()
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	var consuming sync.WaitGroup
	for i := range consumers {
		consuming.Go(func() { consumeGroup(consumeCtx, t, seeds, group, topic, fmt.Sprintf("c%d", i), consumed) })
	}

	time.Sleep(produceFor)
	close(stop)
	produced.Wait()
	t.Logf("produced for %v: %d records acknowledged, %d failed %v", time.Since(start).Round(time.Millisecond), acks.count(), acks.failedCount(), acks.failures())
	if n := acks.failedCount(); n > 0 {
		t.Errorf("%d records failed; an idempotent producer with unlimited retries should only see retriable errors", n)
	}

	// The group, still on faulty storage, must read and commit everything.
	ends := waitGroupCaughtUp(ctx, t, seeds, group, topic)
	stopConsuming()
	consuming.Wait()
	proxy.setShare(0)
	t.Logf("group caught up after %v; %s", time.Since(start).Round(time.Millisecond), proxy.report())
	for err, n := range consumed.errorCounts() {
		t.Logf("consumer error (%d times): %s", n, err)
	}
	if bad := consumed.nonRetriable(); len(bad) > 0 {
		t.Errorf("consumers saw non-retriable errors: %v", bad)
	}
	seen := consumed.values()
	missing := 0
	for v := range acks.snapshot() {
		if !seen[v] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("the group never consumed %d acknowledged records", missing)
	}
	if t.Failed() {
		events, last := consumed.history()
		t.Logf("group events:\n%s\nlast offset read per partition: %v", strings.Join(events, "\n"), last)
	}

	hwm := verifyAckedLog(t, seeds, topic, partitions, acks, true)
	for p, end := range hwm {
		if ends[p] != end {
			t.Errorf("partition %d: group committed %d, high watermark %d", p, ends[p], end)
		}
	}
	verifyStoredObjects(t, clean, topic, hwm)
	for i, b := range brokers {
		if t.Failed() || strings.Contains(b.logs(), "panic") || strings.Contains(b.logs(), "level=ERROR") {
			t.Logf("broker %d logs:\n%s", i+1, b.logs())
		}
	}
}

// groupLog collects what a consumer group read and the errors it saw.
type groupLog struct {
	mu     sync.Mutex
	start  time.Time
	seen   map[string]bool
	errs   map[string]int
	nonRet []string
	events []string // assignments, revocations, losses
	last   map[int32]int64
}

// maxGroupEvents bounds the events kept (client logs included).
const maxGroupEvents = 3000

// event notes a group event with the time since the log began.
func (g *groupLog) event(what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.events) < maxGroupEvents {
		g.events = append(g.events, fmt.Sprintf("%6.2fs %s", time.Since(g.start).Seconds(), what))
	}
}

// clientLog puts a consumer's franz-go logs at info and above (joins,
// syncs, the leader's balance plan, connection errors) among the group's
// events, so that a group that stops consuming shows what its members were
// told.
type clientLog struct {
	name string
	log  *groupLog
}

func (l clientLog) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l clientLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l.log.event(fmt.Sprintf("%s %s: %s %v", l.name, level, msg, keyvals))
}

// history returns the events, and the last offset read of each
// partition.
func (g *groupLog) history() ([]string, map[int32]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.events), maps.Clone(g.last)
}

func newGroupLog() *groupLog {
	return &groupLog{start: time.Now(), seen: make(map[string]bool), errs: make(map[string]int), last: make(map[int32]int64)}
}

func (g *groupLog) record(r *kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[string(r.Value)] = true
	g.last[r.Partition] = max(g.last[r.Partition], r.Offset)
}

func (g *groupLog) error(what string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	msg := what + ": " + err.Error()
	g.errs[msg]++
	if !retriable(err) && g.errs[msg] == 1 {
		g.nonRet = append(g.nonRet, msg)
	}
}

func (g *groupLog) values() map[string]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}

func (g *groupLog) errorCounts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.errs)
}

func (g *groupLog) nonRetriable() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.nonRet...)
}

// retriable reports whether a client may simply try again after err.
func retriable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable || ke == kerr.RebalanceInProgress || ke == kerr.UnknownMemberID || ke == kerr.IllegalGeneration
	}
	// Connection errors are retried by the client.
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, kgo.ErrClientClosed)
}

// consumeGroup is one member of group, committing what it polled after
// every poll.
func consumeGroup(ctx context.Context, t *testing.T, seeds []string, group, topic, name string, log *groupLog) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumerGroup(group),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			log.event(name + fmt.Sprintf(" assigned %v", ps))
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			log.event(name + fmt.Sprintf(" revoked %v", ps))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			log.event(name + fmt.Sprintf(" lost %v", ps))
		}),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RequestRetries(1000),
		kgo.SessionTimeout(10*time.Second),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.ClientID(name),
		kgo.WithLogger(clientLog{name, log}),
	)
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(topic string, p int32, err error) {
			log.error(fmt.Sprintf("%s fetch %s/%d", name, topic, p), err)
		})
		fetches.EachRecord(log.record)
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			log.error(name+" commit", err)
		}
	}
}

// waitGroupCaughtUp waits until group has committed every partition's high
// watermark, as the more advanced of the brokers reports it, and returns
// the committed offsets.
func waitGroupCaughtUp(ctx context.Context, t *testing.T, seeds []string, group, topic string) map[int32]int64 {
	t.Helper()
	var admins []*kadm.Client
	for _, seed := range seeds {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		admins = append(admins, kadm.NewClient(cl))
	}
	var last, lastErr string
	for {
		ends := make(map[int32]int64)
		var err error
		for _, adm := range admins {
			var listed kadm.ListedOffsets
			listed, err = adm.ListEndOffsets(ctx, topic)
			if err == nil {
				err = listed.Error()
			}
			if err != nil {
				break
			}
			listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = max(ends[o.Partition], o.Offset) })
		}
		var committed kadm.OffsetResponses
		if err == nil {
			committed, err = admins[0].FetchOffsets(ctx, group)
			if err == nil {
				err = committed.Error()
			}
		}
		if err == nil {
			got := make(map[int32]int64)
			behind := false
			for p, end := range ends {
				c, _ := committed.Lookup(topic, p)
				got[p] = c.At
				if c.At < end {
					behind = true
				}
			}
			if !behind {
				return got
			}
			last = fmt.Sprintf("committed %v, ends %v", got, ends)
		} else {
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Errorf("group %s did not catch up: last seen %s; last error %s", group, last, lastErr)
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestRetriedConditionalWriteOfEqualContent is the race the S3 bucket's
// "did my first attempt land?" check cannot tell apart: engine A's first
// attempt at the producer-id block fails before reaching the store (503),
// engine B claims the same block meanwhile, writing the very bytes A
// would, and A's retry then finds "its" content at the key. Both must not
// hand out the same producer ids.
func TestRetriedConditionalWriteOfEqualContent(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	proxy := startFaultProxy(t, srv.Endpoint)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	proxy.pick = func(r *http.Request) fault {
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, "/producers/next") {
			return faultNone
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return faultNone
		}
		close(arrived)
		<-release
		return faultSlowDown
	}
	open := func(endpoint string) *objectstore.Engine {
		b, err := objs3.Open(context.Background(), objs3.Options{
			Bucket: bucket, Prefix: "siesta/", Endpoint: endpoint, Region: srv.Region, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		e := objectstore.New(b, objectstore.Options{})
		t.Cleanup(e.Close)
		return e
	}
	a, b := open(proxy.URL), open(srv.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type result struct {
		id  int64
		err error
	}
	fromA := make(chan result, 1)
	go func() {
		id, err := a.NextProducerID(ctx)
		fromA <- result{id, err}
	}()
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("engine A never tried to claim a producer-id block")
	}
	idB, err := b.NextProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	ra := <-fromA
	if ra.err != nil {
		t.Logf("engine A: %v (an error is safe)", ra.err)
		return
	}
	if ra.id/100 == idB/100 {
		t.Errorf("engines A and B both got producer id block %d (ids %d and %d)", ra.id/100*100, ra.id, idB)
	}
}
