package s3

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// The kinds of HTTP request the bucket counts: S3's request classes, as
// they are billed. A listing is a GET with list-type in its query.
var requestKinds = [...]string{"GET", "PUT", "LIST", "HEAD", "DELETE", "OTHER"}

const (
	kindGet = iota
	kindPut
	kindList
	kindHead
	kindDelete
	kindOther
)

// requestCounter counts every HTTP request the S3 client sends, retries
// and the bucket's own checks included, so that /metrics shows what the
// store bills. objectstore.CountingBucket counts bucket operations, one
// level up.
type requestCounter struct {
	requests [len(requestKinds)]atomic.Int64
}

// client returns a copy of c whose requests are counted.
func (rc *requestCounter) client(c *http.Client) *http.Client {
	counted := *c
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	counted.Transport = &countingTransport{next: next, counter: rc}
	return &counted
}

func requestKind(r *http.Request) int {
	switch r.Method {
	case http.MethodGet:
		if r.URL.Query().Has("list-type") {
			return kindList
		}
		return kindGet
	case http.MethodPut:
		return kindPut
	case http.MethodHead:
		return kindHead
	case http.MethodDelete:
		return kindDelete
	}
	return kindOther
}

// WritePrometheus writes the HTTP request counters in Prometheus' text
// format.
func (rc *requestCounter) WritePrometheus(w io.Writer) error {
	if _, err := fmt.Fprintln(w, "# HELP siesta_s3_http_requests_total HTTP requests sent to the S3 endpoint, retries included, by kind.\n# TYPE siesta_s3_http_requests_total counter"); err != nil {
		return err
	}
	for k, name := range requestKinds {
		if _, err := fmt.Fprintf(w, "siesta_s3_http_requests_total{kind=%q} %d\n", name, rc.requests[k].Load()); err != nil {
			return err
		}
	}
	return nil
}

// countingTransport counts each request before sending it on.
type countingTransport struct {
	next    http.RoundTripper
	counter *requestCounter
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.counter.requests[requestKind(r)].Add(1)
	return t.next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport beneath.
func (t *countingTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
