package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// RequestKind names a kind of storage request, as S3 bills them.
type RequestKind int

// The request kinds a Bucket makes. A ranged GET is a GET; both
// conditional puts are PUTs.
const (
	RequestGet RequestKind = iota
	RequestPut
	RequestList
	RequestHead
	RequestDelete
	numRequestKinds
)

var requestKindNames = [numRequestKinds]string{"GET", "PUT", "LIST", "HEAD", "DELETE"}

func (k RequestKind) String() string { return requestKindNames[k] }

// CountingBucket counts the requests made through it, by kind and outcome.
// Every broker wraps its bucket in one so that /metrics shows what the
// broker costs. It counts bucket operations: what a backend does beneath
// one (the S3 SDK's retries, or the HEAD the S3 bucket makes to check a
// retried write) is not seen here; the S3 bucket counts its HTTP requests
// itself (siesta_s3_http_requests_total), and those are what S3 bills. No
// operation maps to HEAD today; the kind is kept so the metric's labels
// match S3's request classes.
type CountingBucket struct {
	Bucket
	requests [numRequestKinds]atomic.Int64
	failures [numRequestKinds]atomic.Int64
}

// NewCountingBucket wraps b.
func NewCountingBucket(b Bucket) *CountingBucket { return &CountingBucket{Bucket: b} }

// RequestCounts is a snapshot of a CountingBucket's counters.
type RequestCounts struct {
	Requests, Failures [numRequestKinds]int64
}

// Total is the number of requests of every kind.
func (c RequestCounts) Total() int64 {
	var n int64
	for _, v := range c.Requests {
		n += v
	}
	return n
}

// Of is the number of requests of one kind.
func (c RequestCounts) Of(k RequestKind) int64 { return c.Requests[k] }

// Counts returns the counters so far.
func (c *CountingBucket) Counts() RequestCounts {
	var out RequestCounts
	for k := range numRequestKinds {
		out.Requests[k] = c.requests[k].Load()
		out.Failures[k] = c.failures[k].Load()
	}
	return out
}

// WritePrometheus writes the counters in Prometheus's text format.
// "Failures" excludes the answers the engine expects (not found, and a
// lost conditional write), which are how siesta coordinates.
func (c *CountingBucket) WritePrometheus(w io.Writer) error {
	counts := c.Counts()
	if _, err := fmt.Fprintf(w, "# HELP siesta_storage_requests_total Storage operations, by the S3 request kind they cost (SDK retries not included).\n# TYPE siesta_storage_requests_total counter\n"); err != nil {
		return err
	}
	for k := range numRequestKinds {
		fmt.Fprintf(w, "siesta_storage_requests_total{kind=%q} %d\n", k, counts.Requests[k])
	}
	fmt.Fprintf(w, "# HELP siesta_storage_request_failures_total Storage requests that failed, by kind.\n# TYPE siesta_storage_request_failures_total counter\n")
	for k := range numRequestKinds {
		fmt.Fprintf(w, "siesta_storage_request_failures_total{kind=%q} %d\n", k, counts.Failures[k])
	}
	return nil
}

func (c *CountingBucket) count(k RequestKind, err error) {
	c.requests[k].Add(1)
	if err != nil && !expected(err) {
		c.failures[k].Add(1)
	}
}

func expected(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrPreconditionFailed)
}

// Get implements Bucket.
func (c *CountingBucket) Get(ctx context.Context, key string) (Object, error) {
	o, err := c.Bucket.Get(ctx, key)
	c.count(RequestGet, err)
	return o, err
}

// GetRange implements Bucket.
func (c *CountingBucket) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	b, err := c.Bucket.GetRange(ctx, key, offset, length)
	c.count(RequestGet, err)
	return b, err
}

// PutIfAbsent implements Bucket.
func (c *CountingBucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := c.Bucket.PutIfAbsent(ctx, key, data)
	c.count(RequestPut, err)
	return etag, err
}

// PutIfMatch implements Bucket.
func (c *CountingBucket) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	newETag, err := c.Bucket.PutIfMatch(ctx, key, data, etag)
	c.count(RequestPut, err)
	return newETag, err
}

// List implements Bucket. Each call is one LIST request to the backend
// (backends page internally only to fill limit, which is rare).
func (c *CountingBucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]ObjectInfo, error) {
	objs, err := c.Bucket.List(ctx, prefix, startAfter, limit)
	c.count(RequestList, err)
	return objs, err
}

// Delete implements Bucket.
func (c *CountingBucket) Delete(ctx context.Context, key string) error {
	err := c.Bucket.Delete(ctx, key)
	c.count(RequestDelete, err)
	return err
}
