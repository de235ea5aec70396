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
	"github.com/siestamq/siesta/objectstore/sqlite"
)

// Open returns the bucket for rawURL:
//
//	memory://   an in-process bucket (the default; nothing survives exit)
//	s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path_style=true
//	            AWS S3 or an S3-compatible service (see objectstore/s3)
//	sqlite:///ABS/PATH.db, sqlite:REL/PATH.db
//	            one SQLite file, created if missing (see objectstore/sqlite)
//
// Open makes no network calls: a bucket that cannot be reached fails its
// first request, not Open. For SQLite, Open checks that the file's
// directory exists; the file is opened (and created) on first use, so a
// broker's cold start never waits for it.
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
	case "sqlite":
		path, opts, err := sqlite.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("storage URL %q: %w", u.Redacted(), err)
		}
		return sqlite.Open(ctx, path, opts)
	case "":
		return nil, fmt.Errorf("storage URL %q has no scheme; try memory://, s3://BUCKET or sqlite:///PATH.db", rawURL)
	default:
		return nil, fmt.Errorf("storage URL %q: unsupported scheme %q (supported: memory, s3, sqlite)", u.Redacted(), u.Scheme)
	}
}
