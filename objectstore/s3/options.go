package s3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Options says which bucket to open and how to reach it.
type Options struct {
	// Bucket is the S3 bucket's name.
	Bucket string

	// Prefix is prepended to every key, so several siesta clusters (or
	// other data) can share one bucket. ParseURL makes it end in "/".
	Prefix string

	// Endpoint is the base URL of an S3-compatible service (R2, Tigris,
	// MinIO). Empty means AWS S3 itself.
	Endpoint string

	// Region signs requests. Empty means the SDK's default chain
	// (AWS_REGION, the shared config file), and "us-east-1" when that has
	// none. R2 and Tigris want "auto".
	Region string

	// PathStyle addresses the bucket as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY. MinIO usually needs it.
	PathStyle bool

	// AccessKeyID and SecretAccessKey, when both are set, are used instead
	// of the SDK's default credential chain (environment variables, shared
	// credentials file, SSO, web identity, container and EC2 instance
	// roles). Storage URLs never carry them.
	AccessKeyID     string
	SecretAccessKey string
}

// defaultRegion is used when neither the URL nor the SDK's chain names one.
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
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return Options{}, fmt.Errorf("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", v)
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

// newClient builds an S3 client for opts. It reads the environment and the
// shared config files but makes no network calls: credentials are fetched
// on the first request. A nil httpClient means one with bounded timeouts
// (see newHTTPClient).
func newClient(ctx context.Context, opts Options, httpClient *http.Client) (*s3.Client, *http.Client, error) {
	loadOpts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().
			WithTimeout(attemptTimeout).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
			WithTransportOptions(func(t *http.Transport) {
				t.TLSHandshakeTimeout = tlsHandshakeTimeout
				t.ResponseHeaderTimeout = responseHeaderTimeout
				t.MaxIdleConnsPerHost = maxIdleConnsPerHost
			})),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
			})
		}),
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.AccessKeyID != "" && opts.SecretAccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	if httpClient == nil {
		httpClient = newHTTPClient(cfg.HTTPClient.(*awshttp.BuildableClient))
	}
	cfg.HTTPClient = httpClient
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = opts.PathStyle
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		// Checksums only where S3 requires them: not every S3-compatible
		// service accepts the flexible checksum headers, and record
		// batches carry their own CRC.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return client, httpClient, nil
}

// newHTTPClient turns the SDK's buildable client, which by now carries any
// CA bundle from AWS_CA_BUNDLE or the shared config, into a plain client
// whose idle connections Close can drop. Every phase of a request has a
// time limit, so a stuck connection fails its attempt (and is retried)
// instead of hanging.
func newHTTPClient(b *awshttp.BuildableClient) *http.Client {
	return &http.Client{
		Transport: b.GetTransport(),
		Timeout:   b.GetTimeout(),
		// S3 answers a wrong region with a redirect that must not be
		// followed blindly; the SDK reports it as an error instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
