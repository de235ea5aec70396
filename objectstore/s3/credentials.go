package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// This file decides which credentials, region, endpoint and CA bundle a
// bucket's client uses. It does the job of the SDK's config package for
// the sources siesta supports, without linking that package: its init
// (STS, SSO and sign-in clients) costs a noticeable part of a cold start.
// Everything is decided from the environment and the shared files when the
// bucket is opened; credentials that come from a service are fetched on
// the first request.

// lookupEnv reads one environment variable, as os.LookupEnv does. Tests
// pass a map's lookup instead, so they need not change the process's
// environment.
type lookupEnv func(key string) (string, bool)

// get returns the value of the first of keys that is set and not empty.
// Like the SDK, an empty variable counts as unset.
func (env lookupEnv) get(keys ...string) string {
	for _, k := range keys {
		if v, ok := env(k); ok && v != "" {
			return v
		}
	}
	return ""
}

// isTrue reports whether key is set to "true", in any case.
func (env lookupEnv) isTrue(key string) bool {
	return strings.EqualFold(env.get(key), "true")
}

// errNoCredentials is the error of every request when no source of
// credentials applies.
var errNoCredentials = errors.New("no AWS credentials found")

// Where the container and instance credential services listen.
const (
	ecsCredentialsHost  = "http://169.254.170.2" // AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is relative to it
	imdsEndpoint        = "http://169.254.169.254"
	imdsEndpointIPv6    = "http://[fd00:ec2::254]"
	containerExpiryLead = 5 * time.Minute // refresh container credentials this long before they expire
)

// supportedSources ends the errors about unsupported settings.
const supportedSources = "siesta supports static keys (aws_access_key_id, aws_secret_access_key, " +
	"aws_session_token) in the shared files, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
	"container credentials (ECS, EKS Pod Identity) and the EC2 instance role"

// settings is what a bucket's client takes from its Options, the
// environment and the shared config files.
type settings struct {
	region   string
	endpoint string // empty: AWS S3's own, chosen by the SDK from the region

	credentials aws.CredentialsProvider
	source      string // where credentials come from, for messages and tests

	rootCAs func() (*x509.CertPool, error) // waits for AWS_CA_BUNDLE's or the profile's ca_bundle's pool (see loadCABundle); nil means the system's roots
}

// resolveSettings picks, in order, the first credentials source that
// applies:
//
//  1. opts.AccessKeyID and opts.SecretAccessKey, when both are set;
//  2. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
//  3. static keys of the profile (AWS_PROFILE, else "default") in the
//     shared credentials file, then the shared config file;
//  4. the container credentials endpoint (ECS, EKS Pod Identity);
//  5. the EC2 instance role, unless AWS_EC2_METADATA_DISABLED=true.
//
// A profile that relies on a source siesta does not support (assume role,
// SSO, credential_process, web identity) is an error, as is
// AWS_WEB_IDENTITY_TOKEN_FILE without environment keys (the SDK tries it
// right after them): falling through to another identity would be a
// surprise at the first request.
// A profile named by AWS_PROFILE must exist, even when the environment's
// keys are used (they win, as with the SDK). When nothing applies,
// requests fail with errNoCredentials.
func resolveSettings(opts Options, env lookupEnv) (settings, error) {
	prof, err := loadProfile(env, sharedFilePaths(env))
	if err != nil {
		return settings{}, err
	}

	var s settings
	s.region = firstNonEmpty(opts.Region, env.get("AWS_REGION", "AWS_DEFAULT_REGION"), prof.config["region"], defaultRegion)
	if s.endpoint, err = resolveEndpoint(opts, env); err != nil {
		return settings{}, err
	}
	if s.rootCAs, err = loadCABundle(env, prof); err != nil {
		return settings{}, err
	}
	if s.credentials, s.source, err = resolveCredentials(opts, env, prof); err != nil {
		return settings{}, err
	}
	return s, nil
}

// resolveCredentials is the credentials chain resolveSettings describes.
func resolveCredentials(opts Options, env lookupEnv, prof profile) (aws.CredentialsProvider, string, error) {
	if opts.AccessKeyID != "" && opts.SecretAccessKey != "" {
		return credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, ""), "storage options", nil
	}

	// A profile named explicitly must exist, as the SDK requires, even
	// when the environment's keys win; it is used only if they are unset.
	if prof.explicit && !prof.found {
		return nil, "", fmt.Errorf("profile %q (AWS_PROFILE) not found in %s", prof.name, prof.fileList(" or "))
	}

	id := env.get("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY")
	secret := env.get("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	switch {
	case id != "" && secret != "":
		return credentials.NewStaticCredentialsProvider(id, secret, env.get("AWS_SESSION_TOKEN")), "environment", nil
	case id != "":
		return nil, "", errors.New("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
	case secret != "":
		return nil, "", errors.New("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
	}

	// The SDK tries web identity next: refuse it here, rather than let a
	// profile or container credentials stand in for the role it names.
	if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		return nil, "", errors.New("AWS_WEB_IDENTITY_TOKEN_FILE is set, but siesta does not support web identity " +
			"(EKS IAM roles for service accounts): use EKS Pod Identity (container credentials) or access keys")
	}

	if err := prof.checkSupported(); err != nil {
		return nil, "", err
	}
	if p, ok, err := prof.staticCredentials(); err != nil || ok {
		return p, fmt.Sprintf("profile %q", prof.name), err
	}

	if p, source, ok, err := containerCredentials(env); err != nil || ok {
		return p, source, err
	}

	tried := fmt.Sprintf("tried AWS_ACCESS_KEY_ID, profile %q in %s, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI",
		prof.name, prof.fileList(" and "))
	if env.isTrue("AWS_EC2_METADATA_DISABLED") {
		return noCredentials{fmt.Errorf("%w: %s; the EC2 instance role is off (AWS_EC2_METADATA_DISABLED=true)", errNoCredentials, tried)},
			"none", nil
	}
	endpoint := env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
	if endpoint == "" {
		endpoint = imdsEndpoint
		if strings.EqualFold(env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), "IPv6") {
			endpoint = imdsEndpointIPv6
		}
	}
	if err := checkEndpoint(endpoint); err != nil {
		return nil, "", fmt.Errorf("AWS_EC2_METADATA_SERVICE_ENDPOINT: %w", err)
	}
	// Every option is set here, so the IMDS client reads nothing from the
	// process's environment on its own.
	imdsOpts := imds.Options{Endpoint: endpoint, ClientEnableState: imds.ClientEnabled}
	if env.isTrue("AWS_EC2_METADATA_V1_DISABLED") {
		imdsOpts.EnableFallback = aws.FalseTernary
	}
	role := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = imds.New(imdsOpts) })
	source := "EC2 instance role from " + endpoint
	return describedErrors{aws.NewCredentialsCache(role), fmt.Errorf("%w: %s; %s", errNoCredentials, tried, source)},
		source, nil
}

// containerCredentials returns the provider for the container credentials
// endpoint that ECS and EKS Pod Identity announce in the environment, and
// false when they announce none.
func containerCredentials(env lookupEnv) (aws.CredentialsProvider, string, bool, error) {
	var endpoint string
	if rel := env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		if !strings.HasPrefix(rel, "/") {
			rel = "/" + rel
		}
		endpoint = ecsCredentialsHost + rel
	} else if full := env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		if err := checkContainerEndpoint(full); err != nil {
			return nil, "", false, fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI: %w", err)
		}
		endpoint = full
	} else {
		return nil, "", false, nil
	}

	token := env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	tokenFile := env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = token
		if tokenFile != "" {
			// Read on every fetch: the agent rotates the token.
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return "", fmt.Errorf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
				}
				return strings.TrimSpace(string(b)), nil
			})
		}
		o.Retryer = newRetryer()
	})
	source := "container credentials from " + endpoint
	cache := aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = containerExpiryLead })
	return describedErrors{cache, errors.New(source)}, source, true, nil
}

// checkContainerEndpoint refuses to send the container authorization token
// in the clear to anything but the container agent or this host, as the
// SDK does. Host names are not resolved (Open makes no network calls), so
// plain HTTP needs an IP address or localhost.
func checkContainerEndpoint(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%q: want an http or https URL", rawURL)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip != nil && (ip.IsLoopback() || ip.Equal(net.IPv4(169, 254, 170, 2)) ||
		ip.Equal(net.IPv4(169, 254, 170, 23)) || ip.Equal(net.ParseIP("fd00:ec2::23"))) {
		return nil
	}
	return fmt.Errorf("%q: plain http is allowed only to a loopback address or the ECS or EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23); use https", rawURL)
}

// describedErrors adds to a provider's errors which source it is, and
// what else was tried.
type describedErrors struct {
	aws.CredentialsProvider
	context error
}

func (p describedErrors) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, fmt.Errorf("%w: %w", p.context, err)
	}
	return c, nil
}

// noCredentials is the provider when no source applies.
type noCredentials struct{ err error }

func (p noCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, p.err
}

// resolveEndpoint picks opts.Endpoint, else AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL; `fly storage create` sets the first for Tigris.
func resolveEndpoint(opts Options, env lookupEnv) (string, error) {
	if opts.Endpoint != "" {
		return opts.Endpoint, nil
	}
	if env.isTrue("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
		return "", nil
	}
	for _, key := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if v := env.get(key); v != "" {
			if err := checkEndpoint(v); err != nil {
				return "", fmt.Errorf("%s: %w", key, err)
			}
			return v, nil
		}
	}
	return "", nil
}

// sharedFiles are the paths of the shared credentials and config files.
type sharedFiles struct {
	credentials string
	config      string
}

// sharedFilePaths returns AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE,
// else the files in ~/.aws. Without a home directory, only the variables
// count.
func sharedFilePaths(env lookupEnv) sharedFiles {
	f := sharedFiles{credentials: env.get("AWS_SHARED_CREDENTIALS_FILE"), config: env.get("AWS_CONFIG_FILE")}
	if f.credentials != "" && f.config != "" {
		return f
	}
	home := env.get("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return f
		}
	}
	if f.credentials == "" {
		f.credentials = filepath.Join(home, ".aws", "credentials")
	}
	if f.config == "" {
		f.config = filepath.Join(home, ".aws", "config")
	}
	return f
}

// profile is one profile's settings from the shared files.
type profile struct {
	name     string
	explicit bool // named by AWS_PROFILE or AWS_DEFAULT_PROFILE
	found    bool // in either file
	files    sharedFiles

	credentials map[string]string // from the credentials file's [NAME]
	config      map[string]string // from the config file's [profile NAME] or [default]
}

// loadProfile reads the selected profile from both shared files. A missing
// file or profile has no settings.
func loadProfile(env lookupEnv, files sharedFiles) (profile, error) {
	p := profile{name: env.get("AWS_PROFILE", "AWS_DEFAULT_PROFILE"), files: files}
	p.explicit = p.name != ""
	if !p.explicit {
		p.name = "default"
	}
	if files.credentials != "" {
		sections, err := readINIFile(files.credentials)
		if err != nil {
			return profile{}, err
		}
		p.credentials, p.found = sections[p.name]
	}
	if files.config != "" {
		sections, err := readINIFile(files.config)
		if err != nil {
			return profile{}, err
		}
		s, ok := sections["profile "+p.name]
		if !ok && p.name == "default" {
			s, ok = sections["default"] // the default profile may be written either way
		}
		if ok {
			p.config, p.found = s, true
		}
	}
	return p, nil
}

// fileList names the shared files that were looked in, joined by sep.
func (p profile) fileList(sep string) string {
	var paths []string
	for _, f := range []string{p.files.credentials, p.files.config} {
		if f != "" {
			paths = append(paths, f)
		}
	}
	if len(paths) == 0 {
		return "no shared file (no home directory)"
	}
	return strings.Join(paths, sep)
}

// unsupportedSettings name credential sources of the shared files that
// need STS, SSO or a process, which siesta does not link.
var unsupportedSettings = []string{
	"role_arn", "credential_source", "credential_process", "web_identity_token_file",
	"sso_session", "sso_start_url", "sso_account_id", "sso_role_name", "sso_region", "login_session",
}

// checkSupported returns an error naming the first setting of the profile
// that siesta cannot use.
func (p profile) checkSupported() error {
	for _, key := range unsupportedSettings {
		for _, f := range []struct {
			path     string
			settings map[string]string
		}{{p.files.credentials, p.credentials}, {p.files.config, p.config}} {
			if _, ok := f.settings[key]; ok {
				return fmt.Errorf("profile %q in %s sets %s, which siesta does not support; %s",
					p.name, f.path, key, supportedSources)
			}
		}
	}
	return nil
}

// staticCredentials returns the profile's keys, the credentials file's
// before the config file's, and false when it has none.
func (p profile) staticCredentials() (aws.CredentialsProvider, bool, error) {
	for _, s := range []map[string]string{p.credentials, p.config} {
		id, secret := s["aws_access_key_id"], s["aws_secret_access_key"]
		switch {
		case id != "" && secret != "":
			return credentials.NewStaticCredentialsProvider(id, secret, s["aws_session_token"]), true, nil
		case id != "" || secret != "":
			return nil, false, fmt.Errorf("profile %q has only one of aws_access_key_id and aws_secret_access_key", p.name)
		}
	}
	return nil, false, nil
}

// readINIFile parses path as an INI file: its sections by name, each a map
// from lower-case key to value. A missing file has no sections.
func readINIFile(path string) (map[string]map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read shared config: %w", err)
	}
	sections, err := parseINI(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sections, nil
}

// parseINI reads the shared files' dialect of INI, as leniently as the
// SDK: [section] headers; key = value (or key: value) lines, values
// unquoted; comments from # or ; at the start of a line or after white
// space. Indented lines under a key with no value (nested settings, such
// as "s3 =") and indented lines without a key (continuations) are
// skipped, as are other lines it does not recognise and keys before the
// first section. Repeated sections merge, later values winning. Only a
// section header without its closing ] is an error: the keys after it
// would land in the wrong profile.
func parseINI(data []byte) (map[string]map[string]string, error) {
	sections := make(map[string]map[string]string)
	var current map[string]string
	nested := false // the last key had no value: indented lines are its settings
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		if trimmed[0] == '[' {
			header, _, _ := strings.Cut(trimmed, "#")
			header, _, _ = strings.Cut(header, ";")
			header = strings.TrimSpace(header)
			if !strings.HasSuffix(header, "]") {
				return nil, fmt.Errorf("line %d: section header %q has no closing ]", n, header)
			}
			name := strings.Join(strings.Fields(header[1:len(header)-1]), " ")
			if sections[name] == nil {
				sections[name] = make(map[string]string)
			}
			current, nested = sections[name], false
			continue
		}
		key, value, ok := splitProperty(strings.TrimSpace(stripComment(raw)))
		indented := raw[0] == ' ' || raw[0] == '\t'
		if !ok || (indented && nested) {
			continue
		}
		nested = value == ""
		if current != nil {
			current[strings.ToLower(key)] = unquote(value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sections, nil
}

// splitProperty splits key = value, or the legacy key: value when the
// colon comes first.
func splitProperty(line string) (key, value string, ok bool) {
	sep := "="
	if eq, colon := strings.Index(line, "="), strings.Index(line, ":"); eq < 0 || (colon >= 0 && colon < eq) {
		sep = ":"
	}
	key, value, ok = strings.Cut(line, sep)
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	return key, value, ok && key != ""
}

// unquote removes one pair of matching quotes around v.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// stripComment removes a # or ; comment that follows white space. Keys
// and secrets never contain either after a space.
func stripComment(line string) string {
	for i := 1; i < len(line); i++ {
		if (line[i] == '#' || line[i] == ';') && (line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// firstNonEmpty returns the first of values that is not empty.
func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
