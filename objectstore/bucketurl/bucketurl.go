// Package bucketurl opens the objectstore.Bucket a storage URL names. The
// URL's scheme picks the backend.
package bucketurl

import (
	"context"
	"fmt"
	"net/url"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// Open returns the bucket for rawURL:
//
//	memory://   an in-process bucket (the default; nothing survives exit)
func Open(ctx context.Context, rawURL string) (objectstore.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "memory":
		return memory.New(), nil
	case "":
		return nil, fmt.Errorf("storage URL %q has no scheme; try memory://", rawURL)
	default:
		return nil, fmt.Errorf("storage URL %q: unsupported scheme %q (supported: memory)", rawURL, u.Scheme)
	}
}
