package s3_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/buckettest"
	"github.com/siestamq/siesta/objectstore/s3"
)

// open returns a bucket on srv, closed when the test ends.
func open(t testing.TB, srv *miniotest.Server, bucket, prefix string) *s3.Bucket {
	t.Helper()
	b, err := s3.Open(t.Context(), s3.Options{
		Bucket:          bucket,
		Prefix:          prefix,
		Endpoint:        srv.Endpoint,
		Region:          srv.Region,
		PathStyle:       true,
		AccessKeyID:     srv.AccessKey,
		SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestBucket runs the conformance suite with a fresh MinIO bucket per
// subtest. (See leafKeys for why the keys get a suffix on MinIO.)
func TestBucket(t *testing.T) {
	srv := miniotest.Start(t)
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket {
		return leafKeys{open(t, srv, srv.NewBucket(t), "")}
	})
}

// TestBucketPrefixed runs the conformance suite on one shared bucket under
// a prefix, next to objects outside it that it must neither see nor touch.
func TestBucketPrefixed(t *testing.T) {
	srv := miniotest.Start(t)
	name := srv.NewBucket(t)
	outside := open(t, srv, name, "")
	neighbours := []string{"siesta", "siesta.txt", "siesta0/x", "siest", "other/siesta/x"}
	for _, key := range neighbours {
		if _, err := outside.PutIfAbsent(t.Context(), key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	b := leafKeys{open(t, srv, name, "siesta/")}
	buckettest.Run(t, func(t *testing.T) objectstore.Bucket { return b })

	objs, err := objectstore.ListAll(t.Context(), outside, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	slices.Sort(neighbours)
	if !slices.Equal(keys, neighbours) {
		t.Errorf("bucket holds %q after the suite, want only %q", keys, neighbours)
	}
}

// TestPrefixIsolation checks that keys live under the prefix and that
// buckets with different prefixes do not see each other's keys.
func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	name := srv.NewBucket(t)
	root := open(t, srv, name, "")
	a := open(t, srv, name, "a/")
	b := open(t, srv, name, "b/")

	etag, err := a.PutIfAbsent(t.Context(), "k", []byte("in a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "k"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("b.Get(k) = %v, want ErrNotFound", err)
	}
	if _, err := b.PutIfAbsent(t.Context(), "k", []byte("in b")); err != nil {
		t.Errorf("b.PutIfAbsent(k): %v", err)
	}
	obj, err := root.Get(t.Context(), "a/k")
	if err != nil || string(obj.Data) != "in a" || obj.ETag != etag {
		t.Errorf("root.Get(a/k) = %q %q, %v; want %q %q", obj.Data, obj.ETag, err, "in a", etag)
	}
	objs, err := a.List(t.Context(), "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "k" {
		t.Errorf("a.List = %+v, %v; want only k", objs, err)
	}
	// startAfter and prefix are in the bucket's own key space too.
	objs, err = root.List(t.Context(), "", "a/k", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "b/k" {
		t.Errorf("root.List(after a/k) = %+v, %v; want only b/k", objs, err)
	}
}

// TestErrors checks the answers that must not be mistaken for a missing
// object or a lost race.
func TestErrors(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	name := srv.NewBucket(t)

	t.Run("missing bucket", func(t *testing.T) {
		b := open(t, srv, name+"-missing", "")
		if _, err := b.Get(t.Context(), "k"); err == nil || errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Get in a missing bucket: %v, want an error other than ErrNotFound", err)
		}
		if _, err := b.PutIfAbsent(t.Context(), "k", nil); err == nil || errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfAbsent in a missing bucket: %v, want an error other than ErrPreconditionFailed", err)
		}
		if _, err := b.PutIfMatch(t.Context(), "k", nil, `"x"`); err == nil || errors.Is(err, objectstore.ErrPreconditionFailed) {
			t.Errorf("PutIfMatch in a missing bucket: %v, want an error other than ErrPreconditionFailed", err)
		}
		if _, err := b.List(t.Context(), "", "", 0); err == nil {
			t.Error("List of a missing bucket succeeded")
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		b, err := s3.Open(t.Context(), s3.Options{
			Bucket: name, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: "wrong-secret",
		})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := b.Get(t.Context(), "k"); err == nil || errors.Is(err, objectstore.ErrNotFound) {
			t.Errorf("Get with a wrong secret: %v, want an error other than ErrNotFound", err)
		}
	})
	t.Run("errors name the key", func(t *testing.T) {
		b := open(t, srv, name, "")
		_, err := b.Get(t.Context(), "some/key")
		if want := "get some/key: object not found"; err == nil || err.Error() != want {
			t.Errorf("Get error = %v, want %q", err, want)
		}
	})
}

// TestOpenIsLazy checks that Open contacts nothing: a broker's cold start
// must not wait on the network.
func TestOpenIsLazy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	start := time.Now()
	b, err := s3.Open(t.Context(), s3.Options{Bucket: "b", Endpoint: "http://" + l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open took %v", d)
	}
	time.Sleep(50 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Errorf("Open made %d connections", n)
	}
}

// TestHTTPRequestsCounted checks the bucket's own count of the HTTP
// requests it sends, by S3 request class, in Prometheus' text format.
func TestHTTPRequestsCounted(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	b := open(t, srv, srv.NewBucket(t), "")
	ctx := t.Context()
	if _, err := b.PutIfAbsent(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.List(ctx, "", "", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := b.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE siesta_s3_http_requests_total counter",
		`siesta_s3_http_requests_total{kind="PUT"} 1`,
		`siesta_s3_http_requests_total{kind="GET"} 1`,
		`siesta_s3_http_requests_total{kind="LIST"} 1`,
		`siesta_s3_http_requests_total{kind="DELETE"} 1`,
		`siesta_s3_http_requests_total{kind="HEAD"} 0`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
}
