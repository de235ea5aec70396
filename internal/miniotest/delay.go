package miniotest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"
)

// DelayingProxy serves an HTTP proxy to target (a MinIO endpoint) that
// holds each request for delay before forwarding it: a local MinIO made to
// answer like a store in another building. The Host header is kept, so
// that request signatures still match. Close the server when done.
func DelayingProxy(target string, delay time.Duration) (*httptest.Server, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("store latency proxy: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	})), nil
}
