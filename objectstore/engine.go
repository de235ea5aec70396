package objectstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Options tune the engine. The zero value is usable.
type Options struct {
	// Linger is how long an append waits for others to the same partition
	// before writing them together as one object. Zero writes at once;
	// appends that arrive while a write is in flight still share the next.
	Linger time.Duration
	// TailRefresh bounds how often a reader at the end of a partition looks
	// in the bucket for objects written by other brokers. Default 1s.
	TailRefresh time.Duration
	// TailTrust is how long a partition's tail, once confirmed against
	// the bucket, may be probed with a GET or written at without first
	// listing the bucket. Default 1m; it must stay well below
	// RetentionSafety.
	TailTrust time.Duration
	// RetentionSafety is the youngest an object can be and still be
	// deleted by retention or DeleteRecords. Default 10m.
	RetentionSafety time.Duration
	// SweepInterval is how often an active partition is checked for
	// records that retention no longer keeps. Default 5m.
	SweepInterval time.Duration
	// MetadataTTL is how long topic metadata read from the bucket is
	// trusted before being read again. Default 2s.
	MetadataTTL time.Duration
	// ProducerRetryHorizon is how long after writing a batch an idempotent
	// producer may still retry it: librdkafka's default message timeout.
	// For that long after a broker loads a partition, a producer's first
	// batch on it is checked against the objects written in the horizon
	// before the load (see lookBack). Default 5m.
	ProducerRetryHorizon time.Duration
	// ProducerExpiry is how long a partition remembers an idempotent
	// producer that appends nothing: Kafka's producer.id.expiration.ms.
	// Default 24h.
	ProducerExpiry time.Duration
	// CacheBytes bounds the in-memory cache of partition objects.
	// Default 64 MiB.
	CacheBytes int64
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TailRefresh <= 0 {
		o.TailRefresh = time.Second
	}
	if o.TailTrust <= 0 {
		o.TailTrust = time.Minute
	}
	if o.RetentionSafety <= 0 {
		o.RetentionSafety = 10 * time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 5 * time.Minute
	}
	if o.MetadataTTL <= 0 {
		o.MetadataTTL = 2 * time.Second
	}
	if o.ProducerRetryHorizon <= 0 {
		o.ProducerRetryHorizon = 5 * time.Minute
	}
	if o.ProducerExpiry <= 0 {
		o.ProducerExpiry = 24 * time.Hour
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors about topics and partitions.
var (
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrUnknownTopicID is ErrUnknownTopic for a topic looked up by id;
	// errors.Is matches both.
	ErrUnknownTopicID   = fmt.Errorf("%w id", ErrUnknownTopic)
	ErrTopicExists      = errors.New("topic already exists")
	ErrUnknownPartition = errors.New("unknown partition")
	ErrOffsetOutOfRange = errors.New("offset out of range")
)

// Engine is the log engine: topics, partition logs and producer ids, all kept
// in a Bucket. It is safe for concurrent use; several Engines (in one process
// or many) may share one bucket.
type Engine struct {
	bucket Bucket
	opts   Options
	log    *slog.Logger
	cache  *objectCache

	// listPage, maxIndexed and searchProbes size partition indexes and
	// their search (see index.go); tests make them small.
	listPage, maxIndexed, searchProbes int

	mu         sync.Mutex
	topics     map[string]*topicEntry
	listed     time.Time // when the topic listing was last read
	partitions map[partitionID]*partition
	clusterID  string
	pids       producerIDBlock
	pidsRead   *producerIDRead     // the producer-id document, read ahead (see WarmProducerIDs)
	pidsGiven  map[int64]time.Time // when this broker handed out each recent producer id (see issuedAfter)
	pidsOrder  []givenID           // pidsGiven's ids, oldest first

	// background tracks retention sweeps, time index writes and warming
	// loads, so Close can wait for them.
	background sync.WaitGroup

	// appended is closed and replaced whenever any partition grows, waking
	// long-polling fetches.
	appendedMu sync.Mutex
	appended   chan struct{}

	// zstdEncoder compresses batches of topics whose compression.type is
	// zstd (recompress.go), made on first use; recompressions holds a
	// token per recompression running.
	zstdEncoder    func() (*zstd.Encoder, error)
	recompressions chan struct{}
}

type partitionID struct {
	topicID   string
	partition int32
}

type topicEntry struct {
	topic   Topic
	etag    string
	fetched time.Time
}

// New returns an engine over bucket.
func New(bucket Bucket, opts Options) *Engine {
	opts.setDefaults()
	return &Engine{
		bucket:         bucket,
		opts:           opts,
		log:            opts.Logger,
		cache:          newObjectCache(opts.CacheBytes),
		listPage:       listPage,
		maxIndexed:     maxIndexed,
		searchProbes:   searchProbes,
		topics:         make(map[string]*topicEntry),
		partitions:     make(map[partitionID]*partition),
		appended:       make(chan struct{}),
		zstdEncoder:    sync.OnceValues(newZstdEncoder),
		recompressions: make(chan struct{}, parallelRecompressions),
	}
}

// Close waits for background work (retention sweeps) to finish. The
// bucket stays open; its owner closes it.
func (e *Engine) Close() {
	e.background.Wait()
}

// Bucket returns the bucket the engine stores into, for other state kept
// beside the log (consumer groups).
func (e *Engine) Bucket() Bucket { return e.bucket }

// Appended returns a channel closed the next time any partition grows.
func (e *Engine) Appended() <-chan struct{} {
	e.appendedMu.Lock()
	defer e.appendedMu.Unlock()
	return e.appended
}

func (e *Engine) notifyAppended() {
	e.appendedMu.Lock()
	close(e.appended)
	e.appended = make(chan struct{})
	e.appendedMu.Unlock()
}

// ClusterID returns the cluster id stored in the bucket, creating it the
// first time any broker asks.
func (e *Engine) ClusterID(ctx context.Context) (string, error) {
	e.mu.Lock()
	id := e.clusterID
	e.mu.Unlock()
	if id != "" {
		return id, nil
	}
	for {
		obj, err := e.bucket.Get(ctx, clusterKey)
		if err == nil {
			id = string(obj.Data)
			break
		}
		if !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("read cluster id: %w", err)
		}
		_, err = e.bucket.PutIfAbsent(ctx, clusterKey, []byte("siesta-"+randomHex(8)))
		if err != nil && !errors.Is(err, ErrPreconditionFailed) {
			return "", fmt.Errorf("create cluster id: %w", err)
		}
	}
	e.mu.Lock()
	e.clusterID = id
	e.mu.Unlock()
	return id, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// writeJSON marshals v and stores it at key: created if etag is empty,
// compare-and-swapped otherwise.
func (e *Engine) writeJSON(ctx context.Context, key, etag string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	if etag == "" {
		return e.bucket.PutIfAbsent(ctx, key, data)
	}
	return e.bucket.PutIfMatch(ctx, key, data, etag)
}

// readJSON loads key into v and returns its etag.
func (e *Engine) readJSON(ctx context.Context, key string, v any) (string, error) {
	obj, err := e.bucket.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(obj.Data, v); err != nil {
		return "", fmt.Errorf("decode %s: %w", key, err)
	}
	return obj.ETag, nil
}

// TailRefresh is how often readers at a partition's end look for other
// brokers' writes; long polls recheck at this interval.
func (e *Engine) TailRefresh() time.Duration { return e.opts.TailRefresh }
