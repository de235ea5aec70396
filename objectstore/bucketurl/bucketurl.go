// Package bucketurl opens the objectstore.Bucket a storage URL names. The
// URL's scheme picks the backend.
package bucketurl

import (
	"context"
	"fmt"
	"net/url"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
	"github.com/siestamq/siesta/objectstore/s3"
)

// Open returns the bucket for rawURL:
//
//	memory://   an in-process bucket (the default; nothing survives exit)
//	s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path_style=true
//	            AWS S3 or an S3-compatible service (see objectstore/s3)
//
// Open makes no network calls: a bucket that cannot be reached fails its
// first request, not Open.
func Open(ctx context.Context, rawURL string) (objectstore.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "memory":
		return memory.New(), nil
	case "s3":
		opts, err := s3.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("storage URL %q: %w", u.Redacted(), err)
		}
		return s3.Open(ctx, opts)
	case "":
		return nil, fmt.Errorf("storage URL %q has no scheme; try memory:// or s3://BUCKET", rawURL)
	default:
		return nil, fmt.Errorf("storage URL %q: unsupported scheme %q (supported: memory, s3)", u.Redacted(), u.Scheme)
	}
}
