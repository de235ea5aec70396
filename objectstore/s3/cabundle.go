package s3

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Parsing a CA bundle's certificates takes milliseconds (a system bundle
// holds some 140), more than the rest of Open, and no request is sent
// during a cold start. So Open only reads the bundle and checks that it
// holds a certificate; the certificates are parsed in the background, and
// the first request waits for them.

// loadCABundle reads the PEM file AWS_CA_BUNDLE (or the profile's
// ca_bundle) names, and starts parsing its certificates. Like the SDK, the
// bundle replaces the system's roots. A file that cannot be read or holds
// no CERTIFICATE block is an error now; the returned function waits for
// the parse and returns the pool, or an error when none of the
// certificates parses. It returns nil when no bundle is set.
func loadCABundle(env lookupEnv, prof profile) (func() (*x509.CertPool, error), error) {
	setting, path := "AWS_CA_BUNDLE", env.get("AWS_CA_BUNDLE")
	if path == "" {
		setting, path = fmt.Sprintf("ca_bundle of profile %q", prof.name), prof.config["ca_bundle"]
	}
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	if !hasCertificateBlock(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", setting, path)
	}
	pool := sync.OnceValues(func() (*x509.CertPool, error) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, &caBundleError{setting: setting, path: path}
		}
		return pool, nil
	})
	go pool()
	return pool, nil
}

// hasCertificateBlock reports whether data holds a PEM block that
// x509.CertPool.AppendCertsFromPEM would try to parse.
func hasCertificateBlock(data []byte) bool {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" && len(block.Headers) == 0 {
			return true
		}
	}
}

// caBundleError is the error of every request when none of a CA bundle's
// certificates parses. Retrying cannot help, so the SDK's retryer gives up
// at once.
type caBundleError struct {
	setting, path string
}

func (e *caBundleError) Error() string {
	return fmt.Sprintf("%s: none of the PEM certificates in %s parses", e.setting, e.path)
}

func (*caBundleError) RetryableError() bool { return false }

// caBundleTransport is the transport when a CA bundle is set: the one b
// builds, trusting only the bundle's certificates. It is built when the
// first request, or Close, needs it, after the bundle is parsed.
type caBundleTransport struct {
	transport func() (*http.Transport, error)
}

func newCABundleTransport(b *awshttp.BuildableClient, rootCAs func() (*x509.CertPool, error)) *caBundleTransport {
	return &caBundleTransport{transport: sync.OnceValues(func() (*http.Transport, error) {
		pool, err := rootCAs()
		if err != nil {
			return nil, err
		}
		t := b.GetTransport()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.RootCAs = pool
		return t, nil
	})}
}

func (t *caBundleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	next, err := t.transport()
	if err != nil {
		if r.Body != nil {
			r.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	return next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport. Before the first request it waits for the bundle's parse,
// which Open started.
func (t *caBundleTransport) CloseIdleConnections() {
	if next, err := t.transport(); err == nil {
		next.CloseIdleConnections()
	}
}
