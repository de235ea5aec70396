package bucketurl_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/siestamq/siesta/internal/miniotest"
	"github.com/siestamq/siesta/objectstore/bucketurl"
	"github.com/siestamq/siesta/objectstore/memory"
	"github.com/siestamq/siesta/objectstore/s3"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		url  string
		want string // the backend's type, or a part of the error
	}{
		{"memory://", "*memory.Bucket"},
		{"s3://bucket", "*s3.Bucket"},
		{"s3://bucket/prefix?region=eu-west-1", "*s3.Bucket"},
		{"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&path_style=true", "*s3.Bucket"},
		{"s3://bucket?endpoint=https://acct.r2.cloudflarestorage.com&region=auto", "*s3.Bucket"},

		{"", "no scheme"},
		{"bucket/prefix", "no scheme"},
		{"gs://bucket", `unsupported scheme "gs"`},
		{"s3://", "no bucket"},
		{"s3://bucket?nope=1", `unknown parameter "nope"`},
		{"s3://id:secret@bucket", "AWS_ACCESS_KEY_ID"},
		{"%zz", "invalid URL escape"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			b, err := bucketurl.Open(t.Context(), tt.url)
			if err != nil {
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Open: %v, want %s", err, tt.want)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("Open's error shows the URL's password: %v", err)
				}
				return
			}
			defer b.Close()
			switch b.(type) {
			case *memory.Bucket:
				if tt.want != "*memory.Bucket" {
					t.Errorf("Open = memory, want %s", tt.want)
				}
			case *s3.Bucket:
				if tt.want != "*s3.Bucket" {
					t.Errorf("Open = s3, want %s", tt.want)
				}
			default:
				t.Errorf("Open = %T, want %s", b, tt.want)
			}
		})
	}
}

// TestOpenS3 opens a MinIO bucket by URL, with credentials from the
// environment as a deployment would pass them.
func TestOpenS3(t *testing.T) {
	srv := miniotest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	raw := "s3://" + srv.NewBucket(t) + "/siesta?path_style=true&endpoint=" + url.QueryEscape(srv.Endpoint)
	b, err := bucketurl.Open(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	etag, err := b.PutIfAbsent(t.Context(), "k", []byte("v"))
	if err != nil {
		t.Fatalf("PutIfAbsent through %s: %v", raw, err)
	}
	obj, err := b.Get(t.Context(), "k")
	if err != nil || string(obj.Data) != "v" || obj.ETag != etag {
		t.Errorf("Get = %q %q, %v; want %q %q", obj.Data, obj.ETag, err, "v", etag)
	}
}
