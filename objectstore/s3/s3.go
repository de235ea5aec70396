// Package s3 is an objectstore.Bucket on Amazon S3 and S3-compatible
// services (Cloudflare R2, Tigris, MinIO), through aws-sdk-go-v2. Conditional
// writes use PutObject's If-None-Match and If-Match headers, so the service
// must support both.
//
// S3 etags are content hashes, not versions: an object rewritten with the
// same bytes keeps its etag, so a PutIfMatch holding an etag from an
// earlier life of identical content succeeds. Writers that need to detect
// every change must make each version's content differ.
//
// MinIO keeps objects as files in directories: when one key is a directory
// of another ("log" and "log/1") it stores and serves both but lists only
// the first. The engine's key layout never makes such pairs.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/siestamq/siesta/objectstore"
)

// Bucket is an objectstore.Bucket over one S3 bucket, with every key under
// a prefix. It is safe for concurrent use.
type Bucket struct {
	client   *s3.Client
	http     *http.Client
	requests *requestCounter
	bucket   string
	prefix   string
}

var _ objectstore.Bucket = (*Bucket)(nil)

// Open returns the bucket opts names. It makes no network calls, so a
// wrong bucket or missing credentials show up on the first request.
func Open(ctx context.Context, opts Options) (*Bucket, error) {
	return open(ctx, opts, os.LookupEnv, nil)
}

// open is Open with the environment and an HTTP client of the caller's,
// for tests.
func open(_ context.Context, opts Options, env lookupEnv, httpClient *http.Client) (*Bucket, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	requests := new(requestCounter)
	client, httpClient, err := newClient(opts, env, httpClient, requests)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Bucket{client: client, http: httpClient, requests: requests, bucket: opts.Bucket, prefix: opts.Prefix}, nil
}

// WritePrometheus writes how many HTTP requests of each kind the bucket
// has sent, SDK retries and its own checks included, in Prometheus' text
// format.
func (b *Bucket) WritePrometheus(w io.Writer) error { return b.requests.WritePrometheus(w) }

// maxKeys is the most keys S3 returns in one ListObjectsV2 page, and List's
// page size when the caller sets none.
const maxKeys = 1000

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: b.key(key)})
	if err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	defer out.Body.Close()
	data, err := readBody(out.Body, aws.ToInt64(out.ContentLength))
	if err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	return objectstore.Object{Data: data, ETag: aws.ToString(out.ETag)}, nil
}

// GetRange implements objectstore.Bucket. A range that starts at or past
// the end of the object, which S3 answers with 416, reads as empty.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	if length == 0 {
		// HTTP has no empty byte range; only the object's existence matters.
		if _, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: b.key(key)}); err != nil {
			return nil, fmt.Errorf("get %s: %w", key, notFound(err))
		}
		return []byte{}, nil
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &b.bucket,
		Key:    b.key(key),
		Range:  aws.String(byteRange(offset, length)),
	})
	if isInvalidRange(err) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	defer out.Body.Close()
	data, err := readBody(out.Body, aws.ToInt64(out.ContentLength))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if out.ContentRange == nil {
		// The service ignored the range and sent the whole object.
		data = data[min(offset, int64(len(data))):]
		if length > 0 && length < int64(len(data)) {
			data = data[:length]
		}
	}
	return data, nil
}

// byteRange is the Range header for length bytes from offset; a negative
// or huge length reads to the end.
func byteRange(offset, length int64) string {
	if length < 0 || length > math.MaxInt64-offset {
		return fmt.Sprintf("bytes=%d-", offset)
	}
	return fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
}

// readBody reads a response body whose length the response declared.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 || size > 1<<30 {
		return io.ReadAll(r)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	return data, nil
}

// PutIfAbsent implements objectstore.Bucket with If-None-Match: *.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	return b.put(ctx, key, data, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
}

// PutIfMatch implements objectstore.Bucket with If-Match. The etag is sent
// as the caller got it: quoted, as S3 returns etags.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if etag == "" {
		// An empty If-Match header would be dropped, making the write
		// unconditional; no object has an empty etag.
		return "", fmt.Errorf("put %s: %w", key, objectstore.ErrPreconditionFailed)
	}
	return b.put(ctx, key, data, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(etag) })
}

// put writes data to key under the condition cond sets.
//
// The SDK retries writes after network errors and 5xx answers. When the
// first attempt was applied but its answer lost, the retry then fails its
// own condition against the object the first attempt wrote. So a
// conditional write that lost after a retry checks whether the object now
// holds exactly data (its etag is the MD5 of the content, for objects
// written in one part without SSE-KMS) and if so reports success.
func (b *Bucket) put(ctx context.Context, key string, data []byte, cond func(*s3.PutObjectInput)) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           b.key(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	cond(in)
	var retried atomic.Bool
	out, err := b.client.PutObject(ctx, in, func(o *s3.Options) {
		o.Retryer = retryObserver{Retryer: o.Retryer, retried: &retried}
	})
	if err == nil {
		return aws.ToString(out.ETag), nil
	}
	if !conditionFailed(err) {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	if retried.Load() {
		etag, ours, err := b.holds(ctx, key, data)
		if err != nil {
			return "", fmt.Errorf("put %s: lost after a retry, and checking whether the first attempt landed failed: %w", key, err)
		}
		if ours {
			return etag, nil
		}
	}
	return "", fmt.Errorf("put %s: %w", key, objectstore.ErrPreconditionFailed)
}

// holds reports whether key holds exactly data, and its etag.
func (b *Bucket) holds(ctx context.Context, key string, data []byte) (string, bool, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: b.key(key)})
	if isNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	sum := md5.Sum(data)
	etag := aws.ToString(out.ETag)
	return etag, etag == `"`+hex.EncodeToString(sum[:])+`"`, nil
}

// List implements objectstore.Bucket. S3 may return short pages before
// the end of a listing; List keeps reading until it has limit objects or
// the listing ends, as the interface promises.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	if limit <= 0 {
		limit = maxKeys
	}
	in := &s3.ListObjectsV2Input{Bucket: &b.bucket}
	if p := b.prefix + prefix; p != "" {
		in.Prefix = aws.String(p)
	}
	if startAfter != "" {
		in.StartAfter = b.key(startAfter)
	}
	var objs []objectstore.ObjectInfo
	for len(objs) < limit {
		in.MaxKeys = aws.Int32(int32(min(limit-len(objs), maxKeys)))
		out, err := b.client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range out.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), b.prefix)
			if !ok || len(objs) == limit {
				continue
			}
			objs = append(objs, objectstore.ObjectInfo{
				Key:          key,
				Size:         aws.ToInt64(o.Size),
				ETag:         aws.ToString(o.ETag),
				LastModified: aws.ToTime(o.LastModified),
			})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	return objs, nil
}

// Delete implements objectstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: b.key(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Close implements objectstore.Bucket. It drops idle connections; requests
// in flight finish.
func (b *Bucket) Close() error {
	b.http.CloseIdleConnections()
	return nil
}

// key is the S3 key of the bucket's key.
func (b *Bucket) key(key string) *string { return aws.String(b.prefix + key) }
