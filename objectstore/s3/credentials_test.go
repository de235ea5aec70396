package s3

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// envMap is an environment for lookupEnv, so tests need not change the
// process's and can run in parallel.
type envMap map[string]string

func (m envMap) lookup(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// writeFile writes content to dir/name, creating directories, and returns
// its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testHome is a home directory with the given ~/.aws/credentials and
// ~/.aws/config (none when empty), and env with HOME pointing at it.
func testHome(t *testing.T, env envMap, credentials, config string) envMap {
	t.Helper()
	home := t.TempDir()
	if credentials != "" {
		writeFile(t, home, ".aws/credentials", credentials)
	}
	if config != "" {
		writeFile(t, home, ".aws/config", config)
	}
	out := envMap{"HOME": home}
	for k, v := range env {
		out[k] = strings.ReplaceAll(v, "$HOME", home)
	}
	return out
}

// TestCredentialSources checks which source the chain picks, and the keys
// of the static ones.
func TestCredentialSources(t *testing.T) {
	t.Parallel()
	envKeys := envMap{"AWS_ACCESS_KEY_ID": "envid", "AWS_SECRET_ACCESS_KEY": "envsecret"}
	with := func(a envMap, kv ...string) envMap {
		m := envMap{}
		for k, v := range a {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const (
		defaultCreds = "[default]\naws_access_key_id = fileid\naws_secret_access_key = filesecret\n"
		devCreds     = "[default]\naws_access_key_id = fileid\naws_secret_access_key = filesecret\n" +
			"[dev]\naws_access_key_id = devid\naws_secret_access_key = devsecret\naws_session_token = devtoken\n"
		roleConfig = "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"
		ssoConfig  = "[default]\nsso_start_url = https://x.awsapps.com/start\nsso_account_id = 1\n"
	)
	tests := []struct {
		name               string
		opts               Options
		env                envMap
		credentials        string // ~/.aws/credentials
		config             string // ~/.aws/config
		wantSource         string
		wantID, wantSecret string // checked when wantID is set
		wantToken          string
		wantErr            string // a part of newClient's error
	}{
		{
			name: "options beat environment", opts: Options{AccessKeyID: "optid", SecretAccessKey: "optsecret"},
			env: envKeys, credentials: defaultCreds,
			wantSource: "storage options", wantID: "optid", wantSecret: "optsecret",
		},
		{
			name: "one option key is not enough", opts: Options{AccessKeyID: "optid"}, env: envKeys,
			wantSource: "environment", wantID: "envid", wantSecret: "envsecret",
		},
		{
			name: "environment", env: with(envKeys, "AWS_SESSION_TOKEN", "envtoken"),
			wantSource: "environment", wantID: "envid", wantSecret: "envsecret", wantToken: "envtoken",
		},
		{
			name: "environment, old names", env: envMap{"AWS_ACCESS_KEY": "oldid", "AWS_SECRET_KEY": "oldsecret"},
			wantSource: "environment", wantID: "oldid", wantSecret: "oldsecret",
		},
		{
			name: "environment beats shared files", env: envKeys, credentials: defaultCreds,
			wantSource: "environment", wantID: "envid", wantSecret: "envsecret",
		},
		{
			name: "environment beats an unusable default profile", env: envKeys, config: ssoConfig,
			wantSource: "environment", wantID: "envid", wantSecret: "envsecret",
		},
		{
			name: "options beat an unusable named profile", opts: Options{AccessKeyID: "optid", SecretAccessKey: "optsecret"},
			env: envMap{"AWS_PROFILE": "dev"}, config: roleConfig,
			wantSource: "storage options", wantID: "optid", wantSecret: "optsecret",
		},
		{
			name: "credentials file, default profile", credentials: defaultCreds,
			wantSource: `profile "default"`, wantID: "fileid", wantSecret: "filesecret",
		},
		{
			name: "credentials file, AWS_PROFILE", env: envMap{"AWS_PROFILE": "dev"}, credentials: devCreds,
			wantSource: `profile "dev"`, wantID: "devid", wantSecret: "devsecret", wantToken: "devtoken",
		},
		{
			name: "credentials file, AWS_DEFAULT_PROFILE", env: envMap{"AWS_DEFAULT_PROFILE": "dev"}, credentials: devCreds,
			wantSource: `profile "dev"`, wantID: "devid", wantSecret: "devsecret", wantToken: "devtoken",
		},
		{
			name: "AWS_PROFILE beats AWS_DEFAULT_PROFILE", env: envMap{"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "default"},
			credentials: devCreds, wantSource: `profile "dev"`, wantID: "devid", wantSecret: "devsecret", wantToken: "devtoken",
		},
		{
			name:       "config file, [default]",
			config:     "[default]\nregion = eu-west-1\naws_access_key_id = cfgid\naws_secret_access_key = cfgsecret\n",
			wantSource: `profile "default"`, wantID: "cfgid", wantSecret: "cfgsecret",
		},
		{
			name:       "config file, [profile default]",
			config:     "[profile default]\naws_access_key_id = cfgid\naws_secret_access_key = cfgsecret\n",
			wantSource: `profile "default"`, wantID: "cfgid", wantSecret: "cfgsecret",
		},
		{
			name: "config file, [profile dev]", env: envMap{"AWS_PROFILE": "dev"},
			config:     "[dev]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n[profile dev]\naws_access_key_id = cfgid\naws_secret_access_key = cfgsecret\n",
			wantSource: `profile "dev"`, wantID: "cfgid", wantSecret: "cfgsecret",
		},
		{
			name: "credentials file beats config file", credentials: defaultCreds,
			config:     "[default]\naws_access_key_id = cfgid\naws_secret_access_key = cfgsecret\n",
			wantSource: `profile "default"`, wantID: "fileid", wantSecret: "filesecret",
		},
		{
			name: "files named by the environment",
			env: envMap{
				"AWS_SHARED_CREDENTIALS_FILE": "$HOME/elsewhere/creds",
				"AWS_CONFIG_FILE":             "$HOME/elsewhere/config",
			},
			credentials: defaultCreds, // in ~/.aws, so not read
			wantSource:  `profile "default"`, wantID: "fileid2", wantSecret: "filesecret2",
		},
		{
			name: "comments and nested settings",
			credentials: "global = ignored\n# a comment\n  ; another\n[ default ]# trailing\n" +
				"aws_access_key_id = fileid ; inline\n" +
				"s3 =\n  aws_access_key_id = nested\n    aws_secret_access_key = nested\n" +
				"not a setting\n" +
				"AWS_Secret_Access_Key=filesecret#kept\n" +
				"  continued\n" +
				"aws_session_token: \"quoted\"\t# legacy colon\n",
			wantSource: `profile "default"`, wantID: "fileid", wantSecret: "filesecret#kept", wantToken: "quoted",
		},
		{
			name: "profile beats container", credentials: defaultCreds,
			env:        envMap{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"},
			wantSource: `profile "default"`, wantID: "fileid", wantSecret: "filesecret",
		},
		{
			name: "profile without keys falls through", config: "[default]\nregion = eu-west-1\n",
			env:        envMap{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"},
			wantSource: "container credentials from http://169.254.170.2/v2/credentials/x",
		},
		{
			name:       "container, relative URI",
			env:        envMap{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "v2/credentials/x"},
			wantSource: "container credentials from http://169.254.170.2/v2/credentials/x",
		},
		{
			name:       "container, full URI (EKS Pod Identity)",
			env:        envMap{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"},
			wantSource: "container credentials from http://169.254.170.23/v1/credentials",
		},
		{
			name:       "container, https full URI to any host",
			env:        envMap{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "https://creds.example.com/v1"},
			wantSource: "container credentials from https://creds.example.com/v1",
		},
		{
			name: "container, relative URI beats full URI",
			env: envMap{
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "http://127.0.0.1:1/creds",
			},
			wantSource: "container credentials from http://169.254.170.2/v2/credentials/x",
		},
		{
			// The SDK takes web identity before the profile and container
			// credentials: refused, not replaced by them.
			name: "web identity refused before container credentials",
			env: envMap{
				"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://[fd00:ec2::23]/v1/credentials",
				"AWS_WEB_IDENTITY_TOKEN_FILE":        "/var/run/token",
			},
			wantErr: "does not support web identity",
		},
		{name: "EC2 instance role", wantSource: "EC2 instance role from http://169.254.169.254"},
		{
			name:       "EC2 instance role, endpoint from environment",
			env:        envMap{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1234"},
			wantSource: "EC2 instance role from http://127.0.0.1:1234",
		},
		{
			name:       "EC2 instance role, IPv6",
			env:        envMap{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"},
			wantSource: "EC2 instance role from http://[fd00:ec2::254]",
		},
		{name: "nothing", env: envMap{"AWS_EC2_METADATA_DISABLED": "TRUE"}, wantSource: "none"},

		{
			name: "assume role profile", env: envMap{"AWS_PROFILE": "dev"}, config: roleConfig,
			wantErr: `profile "dev" in $HOME/.aws/config sets role_arn, which siesta does not support; siesta supports static keys`,
		},
		{
			// As with the SDK, environment keys win over AWS_PROFILE:
			// a shell's SSO profile does not stop a broker given keys.
			name: "environment keys win over an unsupported named profile", env: with(envKeys, "AWS_PROFILE", "dev"), config: roleConfig,
			wantSource: "environment",
		},
		{name: "SSO profile", config: ssoConfig, wantErr: `profile "default" in $HOME/.aws/config sets sso_start_url`},
		{name: "SSO session", config: "[default]\nsso_session = s\n[sso-session s]\nsso_region = us-east-1\n", wantErr: "sets sso_session"},
		{
			name: "credential_process", credentials: "[default]\ncredential_process = /bin/creds\n",
			wantErr: `profile "default" in $HOME/.aws/credentials sets credential_process`,
		},
		{
			name: "web identity profile", config: "[default]\nweb_identity_token_file = /t\nrole_arn = r\n",
			wantErr: "sets role_arn", // the first unsupported setting named
		},
		{
			name: "profile with keys and a role", credentials: defaultCreds, config: "[default]\nrole_arn = r\n",
			wantErr: "sets role_arn",
		},
		{
			name:    "web identity from the environment",
			env:     envMap{"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", "AWS_ROLE_ARN": "r"},
			wantErr: "siesta does not support web identity (EKS IAM roles for service accounts): use EKS Pod Identity (container credentials) or access keys",
		},
		{
			name: "web identity with keys", env: with(envKeys, "AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
			wantSource: "environment", wantID: "envid", wantSecret: "envsecret",
		},
		{name: "missing named profile", env: envMap{"AWS_PROFILE": "nope"}, credentials: defaultCreds, wantErr: `profile "nope" (AWS_PROFILE) not found`},
		{name: "environment id without secret", env: envMap{"AWS_ACCESS_KEY_ID": "id"}, wantErr: "AWS_SECRET_ACCESS_KEY is not"},
		{name: "environment secret without id", env: envMap{"AWS_SECRET_ACCESS_KEY": "s"}, wantErr: "AWS_ACCESS_KEY_ID is not"},
		{name: "profile with half a key", credentials: "[default]\naws_access_key_id = id\n", wantErr: "only one of"},
		{name: "bad credentials file", credentials: "[default\n", wantErr: "credentials: line 1: section header"},
		{name: "bad config file", config: "[default]\nregion = x\n[profile dev ; comment\n", wantErr: "config: line 3: section header"},
		{
			name:    "container over plain http to a remote host",
			env:     envMap{"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://creds.example.com/v1"},
			wantErr: "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		},
		{name: "bad IMDS endpoint", env: envMap{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "169.254.169.254"}, wantErr: "AWS_EC2_METADATA_SERVICE_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := testHome(t, tt.env, tt.credentials, tt.config)
			if p, ok := env["AWS_SHARED_CREDENTIALS_FILE"]; ok {
				writeFile(t, filepath.Dir(p), filepath.Base(p), "[default]\naws_access_key_id = fileid2\naws_secret_access_key = filesecret2\n")
			}
			s, err := resolveSettings(tt.opts, env.lookup)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "$HOME", env["HOME"])
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("resolveSettings: %v, want an error containing %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveSettings: %v", err)
			}
			if s.source != tt.wantSource {
				t.Errorf("source = %q, want %q", s.source, tt.wantSource)
			}
			if tt.wantID == "" {
				return
			}
			c, err := s.credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if c.AccessKeyID != tt.wantID || c.SecretAccessKey != tt.wantSecret || c.SessionToken != tt.wantToken {
				t.Errorf("Retrieve = %q %q %q, want %q %q %q",
					c.AccessKeyID, c.SecretAccessKey, c.SessionToken, tt.wantID, tt.wantSecret, tt.wantToken)
			}
		})
	}
}

// TestNoCredentials checks the error of every request when no source
// applies.
func TestNoCredentials(t *testing.T) {
	t.Parallel()
	env := testHome(t, envMap{"AWS_EC2_METADATA_DISABLED": "true"}, "", "")
	s, err := resolveSettings(Options{}, env.lookup)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.credentials.Retrieve(t.Context())
	if !errors.Is(err, errNoCredentials) {
		t.Fatalf("Retrieve: %v, want errNoCredentials", err)
	}
	for _, want := range []string{"AWS_ACCESS_KEY_ID", `profile "default"`, filepath.Join(env["HOME"], ".aws", "credentials"),
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Retrieve error %q does not mention %q", err, want)
		}
	}
}

// TestContainerCredentials fetches credentials from a container
// credentials endpoint, as ECS and EKS Pod Identity serve it.
func TestContainerCredentials(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tests := []struct {
		name      string
		env       envMap
		tokenFile string // content of the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names
		wantAuth  string
	}{
		{name: "no token", wantAuth: ""},
		{name: "token", env: envMap{"AWS_CONTAINER_AUTHORIZATION_TOKEN": "Basic abc"}, wantAuth: "Basic abc"},
		{
			name:      "token file beats token",
			env:       envMap{"AWS_CONTAINER_AUTHORIZATION_TOKEN": "Basic abc"},
			tokenFile: "eyJhbGciOi.pod-identity\n", wantAuth: "eyJhbGciOi.pod-identity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var auth atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v1/credentials" {
					http.NotFound(w, r)
					return
				}
				auth.Store(r.Header.Get("Authorization"))
				json.NewEncoder(w).Encode(map[string]string{
					"AccessKeyId":     "ASIACONTAINER",
					"SecretAccessKey": "containersecret",
					"Token":           "containertoken",
					"Expiration":      expires.Format(time.RFC3339),
				})
			}))
			defer srv.Close()

			env := testHome(t, tt.env, "", "")
			env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = srv.URL + "/v1/credentials"
			if tt.tokenFile != "" {
				env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = writeFile(t, env["HOME"], "token", tt.tokenFile)
			}
			s, err := resolveSettings(Options{}, env.lookup)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.credentials.Retrieve(t.Context())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if c.AccessKeyID != "ASIACONTAINER" || c.SecretAccessKey != "containersecret" || c.SessionToken != "containertoken" {
				t.Errorf("Retrieve = %+v", c)
			}
			// The cache refreshes five minutes early.
			if !c.CanExpire || c.Expires.After(expires) || c.Expires.Before(expires.Add(-containerExpiryLead)) {
				t.Errorf("Expires = %v (CanExpire %v), want within 5m before %v", c.Expires, c.CanExpire, expires)
			}
			if got, _ := auth.Load().(string); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
		})
	}

	t.Run("failure names the endpoint", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"code": "AccessDenied", "message": "bad token"})
		}))
		defer srv.Close()
		env := testHome(t, envMap{"AWS_CONTAINER_CREDENTIALS_FULL_URI": srv.URL + "/creds"}, "", "")
		s, err := resolveSettings(Options{}, env.lookup)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.credentials.Retrieve(t.Context())
		if err == nil || !strings.Contains(err.Error(), "container credentials from "+srv.URL+"/creds") {
			t.Errorf("Retrieve: %v, want an error naming the endpoint", err)
		}
	})
}

// imdsServer serves the IMDSv2 calls of the EC2 role provider: a token
// from PUT /latest/api/token, then the role's name and its credentials.
// With no role, the role list is empty (404), as on an instance without
// an instance profile.
func imdsServer(t *testing.T, role string, expires time.Time) *httptest.Server {
	t.Helper()
	const token = "imds-token"
	const credsPath = "/latest/meta-data/iam/security-credentials/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "no ttl", http.StatusBadRequest)
				return
			}
			w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
			w.Write([]byte(token))
			return
		}
		if r.Method != http.MethodGet || r.Header.Get("X-aws-ec2-metadata-token") != token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch {
		case role != "" && r.URL.Path == credsPath:
			w.Write([]byte(role + "\n"))
		case role != "" && r.URL.Path == credsPath+role:
			json.NewEncoder(w).Encode(map[string]string{
				"Code":            "Success",
				"LastUpdated":     time.Now().UTC().Format(time.RFC3339),
				"Type":            "AWS-HMAC",
				"AccessKeyId":     "ASIAINSTANCE",
				"SecretAccessKey": "instancesecret",
				"Token":           "instancetoken",
				"Expiration":      expires.Format(time.RFC3339),
			})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEC2RoleCredentials fetches the instance role's credentials through
// IMDSv2.
func TestEC2RoleCredentials(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	srv := imdsServer(t, "siesta-role", expires)
	env := testHome(t, envMap{"AWS_EC2_METADATA_SERVICE_ENDPOINT": srv.URL, "AWS_EC2_METADATA_V1_DISABLED": "true"}, "", "")
	s, err := resolveSettings(Options{}, env.lookup)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if c.AccessKeyID != "ASIAINSTANCE" || c.SecretAccessKey != "instancesecret" || c.SessionToken != "instancetoken" {
		t.Errorf("Retrieve = %+v", c)
	}
	if !c.CanExpire || !c.Expires.Equal(expires) {
		t.Errorf("Expires = %v (CanExpire %v), want %v", c.Expires, c.CanExpire, expires)
	}

	t.Run("no role", func(t *testing.T) {
		t.Parallel()
		srv := imdsServer(t, "", time.Time{})
		env := testHome(t, envMap{"AWS_EC2_METADATA_SERVICE_ENDPOINT": srv.URL}, "", "")
		s, err := resolveSettings(Options{}, env.lookup)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.credentials.Retrieve(t.Context())
		if !errors.Is(err, errNoCredentials) || !strings.Contains(err.Error(), "EC2 instance role from "+srv.URL) {
			t.Errorf("Retrieve: %v, want errNoCredentials naming the EC2 instance role", err)
		}
	})
}

// TestRegion checks where the region comes from, first match winning.
func TestRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   Options
		env    envMap
		config string
		want   string
	}{
		{name: "default", want: "us-east-1"},
		{name: "options", opts: Options{Region: "auto"}, env: envMap{"AWS_REGION": "eu-west-1"}, want: "auto"},
		{name: "AWS_REGION", env: envMap{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}, config: "[default]\nregion = eu-west-3\n", want: "eu-west-1"},
		{name: "AWS_DEFAULT_REGION", env: envMap{"AWS_DEFAULT_REGION": "eu-west-2"}, config: "[default]\nregion = eu-west-3\n", want: "eu-west-2"},
		{name: "empty AWS_REGION is unset", env: envMap{"AWS_REGION": ""}, config: "[default]\nregion = eu-west-3\n", want: "eu-west-3"},
		{name: "default profile", config: "[default]\nregion = eu-west-3\n[profile dev]\nregion = ap-south-1\n", want: "eu-west-3"},
		{name: "lenient config file", config: "[default]\nnot a setting\nregion: 'eu-west-3'\n", want: "eu-west-3"},
		{name: "named profile", env: envMap{"AWS_PROFILE": "dev"}, config: "[default]\nregion = eu-west-3\n[profile dev]\nregion = ap-south-1\n", want: "ap-south-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := settingsWithKeys(t, tt.opts, tt.env, tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if s.region != tt.want {
				t.Errorf("region = %q, want %q", s.region, tt.want)
			}
		})
	}
}

// settingsWithKeys resolves the settings for opts with env and a shared
// config file holding config in a test home, with access keys in the
// environment so that no credential source is looked for.
func settingsWithKeys(t *testing.T, opts Options, env envMap, config string) (settings, error) {
	t.Helper()
	home := testHome(t, env, "", config)
	home["AWS_ACCESS_KEY_ID"], home["AWS_SECRET_ACCESS_KEY"] = "id", "secret"
	return resolveSettings(opts, home.lookup)
}

// TestEndpoint checks where the endpoint comes from, first match winning.
func TestEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		env     envMap
		want    string
		wantErr string
	}{
		{name: "AWS S3", want: ""},
		{name: "options", opts: Options{Endpoint: "http://127.0.0.1:9000"}, env: envMap{"AWS_ENDPOINT_URL_S3": "https://fly.storage.tigris.dev"}, want: "http://127.0.0.1:9000"},
		{
			name: "AWS_ENDPOINT_URL_S3",
			env:  envMap{"AWS_ENDPOINT_URL_S3": "https://fly.storage.tigris.dev", "AWS_ENDPOINT_URL": "https://other.test"},
			want: "https://fly.storage.tigris.dev",
		},
		{name: "AWS_ENDPOINT_URL", env: envMap{"AWS_ENDPOINT_URL": "https://other.test"}, want: "https://other.test"},
		{
			name: "ignored",
			env:  envMap{"AWS_ENDPOINT_URL_S3": "https://fly.storage.tigris.dev", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			want: "",
		},
		{
			name: "options are not ignored",
			opts: Options{Endpoint: "http://127.0.0.1:9000"}, env: envMap{"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
			want: "http://127.0.0.1:9000",
		},
		{name: "bad", env: envMap{"AWS_ENDPOINT_URL_S3": "fly.storage.tigris.dev"}, wantErr: `AWS_ENDPOINT_URL_S3: "fly.storage.tigris.dev": want`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := settingsWithKeys(t, tt.opts, tt.env, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveSettings: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.endpoint != tt.want {
				t.Errorf("endpoint = %q, want %q", s.endpoint, tt.want)
			}
		})
	}
}
