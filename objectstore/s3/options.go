package s3

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// Options says which bucket to open and how to reach it.
type Options struct {
	// Bucket is the S3 bucket's name.
	Bucket string

	// Prefix is prepended to every key, so several siesta clusters (or
	// other data) can share one bucket. ParseURL makes it end in "/".
	Prefix string

	// Endpoint is the base URL of an S3-compatible service (R2, Tigris,
	// MinIO). Empty means AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
	// (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else AWS S3
	// itself.
	Endpoint string

	// Region signs requests. Empty means AWS_REGION, else
	// AWS_DEFAULT_REGION, else the profile's region in the shared config
	// file, else "us-east-1". R2 and Tigris want "auto".
	Region string

	// PathStyle addresses the bucket as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY. MinIO usually needs it.
	PathStyle bool

	// AccessKeyID and SecretAccessKey, when both are set, are used instead
	// of the credential chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
	// static keys of the profile in the shared credentials and config
	// files, container credentials (ECS, EKS Pod Identity), then the EC2
	// instance role. SSO, assume-role profiles, credential_process and web
	// identity are not supported: Open returns an error naming the setting
	// that asks for one. Storage URLs never carry keys.
	AccessKeyID     string
	SecretAccessKey string
}

// defaultRegion is used when neither the URL nor the environment names one.
// S3-compatible services generally accept it, and AWS S3 redirects
// requests for buckets elsewhere with a clear error.
const defaultRegion = "us-east-1"

// ParseURL reads a storage URL of the form
//
//	s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path_style=true
//
// Every query parameter is optional; unknown ones are errors, so that a
// typo does not silently fall back to a default.
func ParseURL(rawURL string) (Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Options{}, err
	}
	if u.Scheme != "s3" {
		return Options{}, fmt.Errorf("scheme is %q, want s3", u.Scheme)
	}
	if u.User != nil {
		return Options{}, fmt.Errorf("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Host == "" {
		return Options{}, fmt.Errorf("no bucket: want s3://BUCKET/PREFIX")
	}
	opts := Options{Bucket: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		opts.Prefix = p + "/"
	}
	for name, values := range u.Query() {
		v := values[len(values)-1]
		switch name {
		case "endpoint":
			if err := checkEndpoint(v); err != nil {
				return Options{}, fmt.Errorf("endpoint %w", err)
			}
			opts.Endpoint = v
		case "region":
			opts.Region = v
		case "path_style":
			opts.PathStyle, err = strconv.ParseBool(v)
			if err != nil {
				return Options{}, fmt.Errorf("path_style %q: want true or false", v)
			}
		default:
			return Options{}, fmt.Errorf("unknown parameter %q (known: endpoint, region, path_style)", name)
		}
	}
	return opts, nil
}

// checkEndpoint returns an error when rawURL is not an http or https base
// URL.
func checkEndpoint(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want http://HOST[:PORT] or https://HOST[:PORT]", rawURL)
	}
	return nil
}

// Limits on one HTTP attempt. The SDK's retryer makes further attempts
// after transient failures, each bounded the same way.
const (
	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
	attemptTimeout        = 2 * time.Minute // a whole request, body included
	maxIdleConnsPerHost   = 64              // requests to one endpoint run in parallel
)

// maxAttempts bounds the SDK's standard retryer, which retries throttling
// (503 SlowDown), 500s and network errors with jittered backoff.
const (
	maxAttempts = 5
	maxBackoff  = 5 * time.Second
)

// newRetryer is the retryer of every request to S3 and to the container
// credentials endpoint.
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
	})
}

// newClient builds an S3 client for opts, reading the environment through
// env and the shared config files (see resolveSettings), but making no
// network calls: credentials are fetched on the first request. A nil
// httpClient means one with bounded timeouts (see newHTTPClient) that
// trusts AWS_CA_BUNDLE when it is set. Its requests are counted in
// requests, unless that is nil.
func newClient(opts Options, env lookupEnv, httpClient *http.Client, requests *requestCounter) (*s3.Client, *http.Client, error) {
	s, err := resolveSettings(opts, env)
	if err != nil {
		return nil, nil, err
	}
	if httpClient == nil {
		b := awshttp.NewBuildableClient().
			WithTimeout(attemptTimeout).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
			WithTransportOptions(func(t *http.Transport) {
				t.TLSHandshakeTimeout = tlsHandshakeTimeout
				t.ResponseHeaderTimeout = responseHeaderTimeout
				t.MaxIdleConnsPerHost = maxIdleConnsPerHost
			})
		httpClient = newHTTPClient(b, s.rootCAs)
	}
	if requests != nil {
		httpClient = requests.client(httpClient)
	}
	cfg := aws.Config{
		Region:      s.region,
		Credentials: s.credentials,
		HTTPClient:  httpClient,
		Retryer:     newRetryer,
		Logger:      logging.NewStandardLogger(os.Stderr),
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = opts.PathStyle
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
		// Checksums only where S3 requires them: not every S3-compatible
		// service accepts the flexible checksum headers, and record
		// batches carry their own CRC.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return client, httpClient, nil
}

// newHTTPClient turns the SDK's buildable client into a plain client whose
// idle connections Close can drop. Every phase of a request has a time
// limit, so a stuck connection fails its attempt (and is retried) instead
// of hanging. A non-nil rootCAs (see loadCABundle) is the only trust: the
// transport is then built by the first request, once the pool is ready.
func newHTTPClient(b *awshttp.BuildableClient, rootCAs func() (*x509.CertPool, error)) *http.Client {
	var transport http.RoundTripper = b.GetTransport()
	if rootCAs != nil {
		transport = newCABundleTransport(b, rootCAs)
	}
	return &http.Client{
		Transport: transport,
		Timeout:   b.GetTimeout(),
		// S3 answers a wrong region with a redirect that must not be
		// followed blindly; the SDK reports it as an error instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
