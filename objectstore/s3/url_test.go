package s3

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Options
		err  string // a part of the error; empty for none
	}{
		{url: "s3://b", want: Options{Bucket: "b"}},
		{url: "s3://b/", want: Options{Bucket: "b"}},
		{url: "s3://b/siesta", want: Options{Bucket: "b", Prefix: "siesta/"}},
		{url: "s3://b/siesta/", want: Options{Bucket: "b", Prefix: "siesta/"}},
		{url: "s3://b//a/b//", want: Options{Bucket: "b", Prefix: "a/b/"}},
		{url: "s3://my-bucket/siesta?region=eu-west-1", want: Options{Bucket: "my-bucket", Prefix: "siesta/", Region: "eu-west-1"}},
		{
			url:  "s3://my-bucket/siesta?endpoint=https://acct.r2.cloudflarestorage.com&region=auto",
			want: Options{Bucket: "my-bucket", Prefix: "siesta/", Endpoint: "https://acct.r2.cloudflarestorage.com", Region: "auto"},
		},
		{
			url:  "s3://my-bucket/siesta?endpoint=http://127.0.0.1:9000&path_style=true",
			want: Options{Bucket: "my-bucket", Prefix: "siesta/", Endpoint: "http://127.0.0.1:9000", PathStyle: true},
		},
		{url: "s3://b?path_style=false", want: Options{Bucket: "b"}},
		{url: "s3://b?path_style=1", want: Options{Bucket: "b", PathStyle: true}},
		{url: "s3://b?endpoint=http%3A%2F%2Flocalhost%3A9000", want: Options{Bucket: "b", Endpoint: "http://localhost:9000"}},

		{url: "s3:///prefix", err: "no bucket"},
		{url: "s3:b", err: "no bucket"},
		{url: "memory://", err: "want s3"},
		{url: "s3://key:secret@b", err: "AWS_ACCESS_KEY_ID"},
		{url: "s3://b?regoin=x", err: `unknown parameter "regoin"`},
		{url: "s3://b?path_style=yes", err: "path_style"},
		{url: "s3://b?endpoint=localhost:9000", err: "endpoint"},
		{url: "s3://b?endpoint=ftp://host", err: "endpoint"},
		{url: "s3://b?endpoint=http://", err: "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("ParseURL: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("ParseURL = %+v, %v; want an error containing %q", got, err, tt.err)
			case tt.err == "" && got != tt.want:
				t.Errorf("ParseURL = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAddressing checks the URL a request goes to: path style puts the
// bucket in the path, virtual-hosted style in the host name; and that the
// region comes from the options, the environment, or the default.
func TestAddressing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		env      string // AWS_REGION
		wantURL  string
		wantAuth string // a part of the Authorization header: the region in the scope
	}{
		{"path style", "s3://bkt/pre?endpoint=http://minio.test:9000&path_style=true", "", "http://minio.test:9000/bkt/pre/k", "/us-east-1/s3/"},
		{"virtual hosted", "s3://bkt/pre?endpoint=https://acct.r2.test&region=auto", "", "https://bkt.acct.r2.test/pre/k", "/auto/s3/"},
		{"aws", "s3://bkt/pre?region=eu-west-1", "", "https://bkt.s3.eu-west-1.amazonaws.com/pre/k", "/eu-west-1/s3/"},
		{"region from environment", "s3://bkt", "ap-south-1", "https://bkt.s3.ap-south-1.amazonaws.com/k", "/ap-south-1/s3/"},
		{"url beats environment", "s3://bkt?region=eu-west-1", "ap-south-1", "https://bkt.s3.eu-west-1.amazonaws.com/k", "/eu-west-1/s3/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := envMap{
				"HOME":                      t.TempDir(),
				"AWS_ACCESS_KEY_ID":         "id",
				"AWS_SECRET_ACCESS_KEY":     "secret",
				"AWS_REGION":                tt.env,
				"AWS_EC2_METADATA_DISABLED": "true",
			}
			opts, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			var got *http.Request
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r
				// An answer not worth retrying.
				return &http.Response{StatusCode: http.StatusForbidden, Body: http.NoBody, Request: r}, nil
			})}
			b, err := open(t.Context(), opts, env.lookup, client)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Get(t.Context(), "k"); err == nil {
				t.Fatal("Get succeeded on a 403")
			}
			if u := got.URL.Scheme + "://" + got.URL.Host + got.URL.Path; u != tt.wantURL {
				t.Errorf("request to %s, want %s", u, tt.wantURL)
			}
			if auth := got.Header.Get("Authorization"); !strings.Contains(auth, tt.wantAuth) {
				t.Errorf("Authorization = %q, want the scope to contain %q", auth, tt.wantAuth)
			}
		})
	}
}

// TestLostResponse applies a conditional write but loses its answer, as a
// connection reset would. The SDK retries, the retry fails its condition
// against the object the first attempt wrote, and the write must still be
// reported as done: a caller told that it lost would write again.
func TestLostResponse(t *testing.T) {
	srv := miniotest.Start(t)
	var dropped atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil || r.Method != http.MethodPut || dropped.Add(1) > 1 {
			return resp, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("read: connection reset by peer")
	})}
	b, err := open(t.Context(), Options{
		Bucket: srv.NewBucket(t), Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	}, os.LookupEnv, client)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	check := func(t *testing.T, op string, etag string, err error, data string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s with its first answer lost: %v", op, err)
		}
		obj, err := b.Get(t.Context(), "k")
		if err != nil || string(obj.Data) != data || obj.ETag != etag {
			t.Errorf("after %s: Get = %q %q, %v; want %q %q", op, obj.Data, obj.ETag, err, data, etag)
		}
		if n := dropped.Load(); n != 2 {
			t.Errorf("%d PUT attempts, want 2", n)
		}
	}
	etag, err := b.PutIfAbsent(t.Context(), "k", []byte("v1"))
	check(t, "PutIfAbsent", etag, err, "v1")

	dropped.Store(0)
	etag, err = b.PutIfMatch(t.Context(), "k", []byte("v2"), etag)
	check(t, "PutIfMatch", etag, err, "v2")

	// Without a retry, a write that loses is never taken for ours.
	dropped.Store(1) // no more drops
	if _, err := b.PutIfMatch(t.Context(), "k", []byte("v3"), `"stale"`); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Errorf("PutIfMatch with a stale etag: %v, want ErrPreconditionFailed", err)
	}
}
