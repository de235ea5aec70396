package s3

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siestamq/siesta/internal/tlstest"
)

// certPEM is certs in PEM, as a CA bundle holds them.
func certPEM(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

// unparsableCertPEM is a CERTIFICATE block whose content is not a
// certificate: Open cannot tell, the background parse can.
var unparsableCertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))

// newOwnCertServer starts a TLS server with a certificate of its own
// (every httptest.NewTLSServer has the same one), for 127.0.0.1. Its
// Certificate, in a bundle, is what a client must trust.
func newOwnCertServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	files := tlstest.New(t)
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestCABundle checks that AWS_CA_BUNDLE, or the profile's ca_bundle, is
// the client's only trust: it trusts a server whose certificate is in the
// bundle and refuses one whose certificate is not. A bad bundle stops
// newClient when the file shows it, and every request when only the
// certificates' parse does.
func TestCABundle(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	shared := httptest.NewTLSServer(ok)
	t.Cleanup(shared.Close)
	own := newOwnCertServer(t, ok)
	dir := t.TempDir()
	sharedPEM := writeFile(t, dir, "shared.pem", certPEM(shared.Certificate()))
	ownPEM := writeFile(t, dir, "own.pem", certPEM(own.Certificate()))
	bothPEM := writeFile(t, dir, "both.pem", certPEM(shared.Certificate(), own.Certificate()))
	partlyPEM := writeFile(t, dir, "partly.pem", unparsableCertPEM+certPEM(own.Certificate()))
	unparsable := writeFile(t, dir, "unparsable.pem", unparsableCertPEM)
	bad := writeFile(t, dir, "bad.pem", "not a certificate\n")
	const unknown = "x509: certificate signed by unknown authority"

	tests := []struct {
		name    string
		env     envMap
		config  string
		server  *httptest.Server // nil: shared
		wantErr string           // from newClient
		getErr  string           // from a request to server; empty: trusted
	}{
		{name: "none", getErr: unknown},
		{name: "AWS_CA_BUNDLE", env: envMap{"AWS_CA_BUNDLE": sharedPEM}},
		{name: "server not in bundle", env: envMap{"AWS_CA_BUNDLE": sharedPEM}, server: own, getErr: unknown},
		{name: "other server not in bundle", env: envMap{"AWS_CA_BUNDLE": ownPEM}, getErr: unknown},
		{name: "bundle of two", env: envMap{"AWS_CA_BUNDLE": bothPEM}, server: own},
		{name: "unparsable certificate skipped", env: envMap{"AWS_CA_BUNDLE": partlyPEM}, server: own},
		{name: "profile ca_bundle", config: "[default]\nca_bundle = " + sharedPEM + "\n"},
		{name: "profile ca_bundle, server not in bundle", config: "[default]\nca_bundle = " + sharedPEM + "\n", server: own, getErr: unknown},
		{name: "no certificate parses", env: envMap{"AWS_CA_BUNDLE": unparsable},
			getErr: "AWS_CA_BUNDLE: none of the PEM certificates in " + unparsable + " parses"},
		{name: "profile: no certificate parses", config: "[default]\nca_bundle = " + unparsable + "\n",
			getErr: `ca_bundle of profile "default": none of the PEM certificates in ` + unparsable + " parses"},
		{name: "AWS_CA_BUNDLE beats profile", env: envMap{"AWS_CA_BUNDLE": bad}, config: "[default]\nca_bundle = " + sharedPEM + "\n", wantErr: "AWS_CA_BUNDLE: no PEM certificate in " + bad},
		{name: "not PEM", env: envMap{"AWS_CA_BUNDLE": bad}, wantErr: "AWS_CA_BUNDLE: no PEM certificate in " + bad},
		{name: "missing", env: envMap{"AWS_CA_BUNDLE": filepath.Join(dir, "nope.pem")}, wantErr: "AWS_CA_BUNDLE: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tt.server
			if srv == nil {
				srv = shared
			}
			env := testHome(t, tt.env, "", tt.config)
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "id", "secret"
			_, httpClient, err := newClient(Options{Bucket: "b", Endpoint: srv.URL, PathStyle: true}, env.lookup, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("newClient: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer httpClient.CloseIdleConnections()
			resp, err := httpClient.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tt.getErr == "" && err != nil:
				t.Errorf("GET %s: %v; want it trusted", srv.URL, err)
			case tt.getErr != "" && (err == nil || !strings.Contains(err.Error(), tt.getErr)):
				t.Errorf("GET %s: %v; want an error containing %q", srv.URL, err, tt.getErr)
			}
		})
	}
}

// TestCABundleBucket reads an object over TLS through a bucket that trusts
// the server by AWS_CA_BUNDLE, and checks that a bundle none of whose
// certificates parses fails the bucket's first request at once, naming the
// setting and the file.
func TestCABundleBucket(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/b/k" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"e"`)
		w.Write([]byte("v"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	trusted := writeFile(t, dir, "ca.pem", certPEM(srv.Certificate()))
	unparsable := writeFile(t, dir, "unparsable.pem", unparsableCertPEM)

	tests := []struct {
		name    string
		bundle  string
		wantErr string // empty: Get returns "v"
	}{
		{name: "trusted", bundle: trusted},
		{name: "no certificate parses", bundle: unparsable,
			wantErr: "AWS_CA_BUNDLE: none of the PEM certificates in " + unparsable + " parses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := testHome(t, envMap{"AWS_CA_BUNDLE": tt.bundle}, "", "")
			b, err := open(t.Context(), Options{
				Bucket: "b", Endpoint: srv.URL, PathStyle: true, AccessKeyID: "id", SecretAccessKey: "secret",
			}, env.lookup, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			obj, err := b.Get(t.Context(), "k")
			if tt.wantErr == "" {
				if err != nil || string(obj.Data) != "v" || obj.ETag != `"e"` {
					t.Errorf("Get = %q %q, %v; want %q %q", obj.Data, obj.ETag, err, "v", `"e"`)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Get: %v, want an error containing %q", err, tt.wantErr)
			}
			if n := b.requests.requests[kindGet].Load(); n != 1 {
				t.Errorf("%d GET attempts, want 1: a bundle that does not parse is not retried", n)
			}
		})
	}
}

// TestCABundleRefusedAtOpen checks that Open reports a CA bundle it cannot
// read, or one without a certificate, rather than the first request.
func TestCABundleRefusedAtOpen(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	empty := writeFile(t, dir, "empty.pem", "")
	text := writeFile(t, dir, "text.pem", "not a certificate\n")
	key := writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("k")})))
	withHeaders := writeFile(t, dir, "headers.pem", string(pem.EncodeToMemory(&pem.Block{
		Type: "CERTIFICATE", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: srv.Certificate().Raw,
	})))

	tests := []struct {
		name    string
		env     envMap
		config  string
		wantErr string
	}{
		{name: "missing", env: envMap{"AWS_CA_BUNDLE": missing}, wantErr: "s3: AWS_CA_BUNDLE: open " + missing},
		{name: "directory", env: envMap{"AWS_CA_BUNDLE": dir}, wantErr: "s3: AWS_CA_BUNDLE: read " + dir},
		{name: "empty", env: envMap{"AWS_CA_BUNDLE": empty}, wantErr: "s3: AWS_CA_BUNDLE: no PEM certificate in " + empty},
		{name: "not PEM", env: envMap{"AWS_CA_BUNDLE": text}, wantErr: "s3: AWS_CA_BUNDLE: no PEM certificate in " + text},
		{name: "private key", env: envMap{"AWS_CA_BUNDLE": key}, wantErr: "s3: AWS_CA_BUNDLE: no PEM certificate in " + key},
		{name: "certificate with headers", env: envMap{"AWS_CA_BUNDLE": withHeaders}, wantErr: "s3: AWS_CA_BUNDLE: no PEM certificate in " + withHeaders},
		{name: "profile, missing", config: "[default]\nca_bundle = " + missing + "\n", wantErr: `s3: ca_bundle of profile "default": open ` + missing},
		{name: "profile, not PEM", config: "[default]\nca_bundle = " + text + "\n", wantErr: `s3: ca_bundle of profile "default": no PEM certificate in ` + text},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := testHome(t, tt.env, "", tt.config)
			b, err := open(t.Context(), Options{
				Bucket: "b", Endpoint: srv.URL, PathStyle: true, AccessKeyID: "id", SecretAccessKey: "secret",
			}, env.lookup, nil)
			if err == nil {
				b.Close()
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("open: %v, want an error starting %q", err, tt.wantErr)
			}
		})
	}
}

// TestCABundleUnchanged checks that a bundle does not change the client's
// limits: the transport a request uses has the timeouts and pool size of
// one without a bundle, and the bundle's pool as its only roots.
func TestCABundleUnchanged(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	bundle := writeFile(t, t.TempDir(), "ca.pem", certPEM(srv.Certificate()))
	env := testHome(t, envMap{"AWS_CA_BUNDLE": bundle, "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}, "", "")
	_, httpClient, err := newClient(Options{Bucket: "b", Endpoint: srv.URL}, env.lookup, nil, new(requestCounter))
	if err != nil {
		t.Fatal(err)
	}
	defer httpClient.CloseIdleConnections()
	if httpClient.Timeout != attemptTimeout || httpClient.CheckRedirect == nil {
		t.Errorf("client timeout %v, redirects checked %v; want %v, true", httpClient.Timeout, httpClient.CheckRedirect != nil, attemptTimeout)
	}
	counting, ok := httpClient.Transport.(*countingTransport)
	if !ok {
		t.Fatalf("transport is %T, want requests counted", httpClient.Transport)
	}
	bt, ok := counting.next.(*caBundleTransport)
	if !ok {
		t.Fatalf("counted transport is %T, want a *caBundleTransport", counting.next)
	}
	tr, err := bt.transport()
	if err != nil {
		t.Fatal(err)
	}
	if tr.TLSHandshakeTimeout != tlsHandshakeTimeout || tr.ResponseHeaderTimeout != responseHeaderTimeout || tr.MaxIdleConnsPerHost != maxIdleConnsPerHost {
		t.Errorf("transport limits %v %v %d, want %v %v %d", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout, tr.MaxIdleConnsPerHost,
			tlsHandshakeTimeout, responseHeaderTimeout, maxIdleConnsPerHost)
	}
	cfg := tr.TLSClientConfig
	want := x509.NewCertPool()
	want.AddCert(srv.Certificate())
	if cfg == nil || cfg.InsecureSkipVerify || cfg.RootCAs == nil || !cfg.RootCAs.Equal(want) {
		t.Errorf("TLS config trusts other than the bundle: %+v", cfg)
	}
}
