package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siestamq/siesta/internal/tlstest"
)

// handshake connects a client with cfg to a server with srv's
// configuration over a pipe, and returns the certificate the server
// presented, or the client's handshake error.
func handshake(t *testing.T, srv *Server, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	a, b := net.Pipe()
	server := tls.Server(a, srv.Config())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = server.Handshake()
		server.Close()
	}()
	defer func() {
		b.Close()
		a.Close()
		wg.Wait()
	}()
	client := tls.Client(b, cfg)
	if err := client.Handshake(); err != nil {
		return nil, err
	}
	// TLS 1.3 reports a refused client certificate only on the first read.
	if _, err := client.Read(make([]byte, 1)); err != nil && !strings.Contains(err.Error(), "EOF") {
		return nil, err
	}
	return client.ConnectionState().PeerCertificates[0], nil
}

// clock is a settable time for Server.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func load(t *testing.T, paths Paths, log *bytes.Buffer) (*Server, *clock) {
	t.Helper()
	srv, err := Load(paths, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	srv.now = c.now
	return srv, c
}

// replace copies src over dst and gives it a modification time of its own,
// as a renewal would.
func replace(t *testing.T, dst, src string, mtime time.Time) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	files := tlstest.New(t)
	other := tlstest.New(t)
	tests := []struct {
		name  string
		paths Paths
		want  string
	}{
		{"no key", Paths{Cert: files.Cert}, "both required"},
		{"missing certificate", Paths{Cert: files.Cert + ".missing", Key: files.Key}, ".missing"},
		{"key of another certificate", Paths{Cert: files.Cert, Key: other.Key}, "does not match"},
		{"key for certificate", Paths{Cert: files.Key, Key: files.Key}, "certificate"},
		{"client CA without certificates", Paths{Cert: files.Cert, Key: files.Key, ClientCA: files.Key}, "no PEM certificate"},
		{"missing client CA", Paths{Cert: files.Cert, Key: files.Key, ClientCA: files.CA + ".missing"}, ".missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.paths, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestServesTheCertificate(t *testing.T) {
	files := tlstest.New(t)
	var log bytes.Buffer
	srv, _ := load(t, Paths{Cert: files.Cert, Key: files.Key}, &log)
	got, err := handshake(t, srv, files.ClientConfig(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.Cmp(srv.Leaf().SerialNumber) != 0 {
		t.Fatalf("served serial %v, loaded %v", got.SerialNumber, srv.Leaf().SerialNumber)
	}
	old := files.ClientConfig(t, false)
	old.MaxVersion = tls.VersionTLS11
	if _, err := handshake(t, srv, old); err == nil {
		t.Fatal("a TLS 1.1 client was served; want TLS 1.2 at least")
	}
}

func TestRequiresClientCertificateSignedByClientCA(t *testing.T) {
	files := tlstest.New(t)
	stranger := tlstest.New(t) // a client certificate from another CA
	var log bytes.Buffer
	srv, _ := load(t, Paths{Cert: files.Cert, Key: files.Key, ClientCA: files.CA}, &log)
	if _, err := handshake(t, srv, files.ClientConfig(t, true)); err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	if _, err := handshake(t, srv, files.ClientConfig(t, false)); err == nil {
		t.Fatal("client without a certificate was served")
	}
	cfg := files.ClientConfig(t, false)
	pair, err := tls.LoadX509KeyPair(stranger.ClientCert, stranger.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	if _, err := handshake(t, srv, cfg); err == nil {
		t.Fatal("client with a certificate of another CA was served")
	}
}

// TestReloadsChangedFiles renews the certificate the way certbot does
// (the certificate first, then the key): while only the certificate is
// new the pair does not match and the old one is served; once both are
// new, the new one is, without a restart.
func TestReloadsChangedFiles(t *testing.T) {
	files := tlstest.New(t)
	renewed := tlstest.New(t)
	var log bytes.Buffer
	srv, clock := load(t, Paths{Cert: files.Cert, Key: files.Key}, &log)
	first := srv.Leaf().SerialNumber
	served := func() *x509.Certificate {
		t.Helper()
		// Both CAs are trusted: the test is about which one is served.
		cfg := files.ClientConfig(t, false)
		caPEM, err := os.ReadFile(renewed.CA)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RootCAs.AppendCertsFromPEM(caPEM)
		cert, err := handshake(t, srv, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}

	mtime := time.Now().Add(time.Minute)
	replace(t, files.Cert, renewed.Cert, mtime)
	if got := served(); got.SerialNumber.Cmp(first) != 0 {
		t.Fatal("files were looked at again within a second")
	}
	clock.advance(2 * time.Second)
	if got := served(); got.SerialNumber.Cmp(first) != 0 {
		t.Fatal("a certificate without its key was served")
	}
	if !strings.Contains(log.String(), "reloading failed") {
		t.Fatalf("the failed reload was not logged: %s", log.String())
	}
	replace(t, files.Key, renewed.Key, mtime)
	clock.advance(2 * time.Second)
	got := served()
	if got.SerialNumber.Cmp(first) == 0 {
		t.Fatal("the renewed certificate was not served")
	}
	if got.SerialNumber.Cmp(srv.Leaf().SerialNumber) != 0 {
		t.Fatal("Leaf is not the certificate served")
	}
	if !strings.Contains(log.String(), "tls: reloaded") {
		t.Fatalf("the reload was not logged: %s", log.String())
	}

	// Files gone (a deploy in progress) leave the last good ones served.
	if err := os.Remove(files.Key); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Second)
	if again := served(); again.SerialNumber.Cmp(got.SerialNumber) != 0 {
		t.Fatal("a missing key changed what is served")
	}
}

// TestRetriesAFailedLoadOfUnchangedFiles: files that failed to load are
// tried again after a minute even if they look the same (size and time),
// since the failure need not have been their content; here the key is
// first unreadable garbage and then, with the same size and time, the
// right key.
func TestRetriesAFailedLoadOfUnchangedFiles(t *testing.T) {
	files := tlstest.New(t)
	renewed := tlstest.New(t)
	var log bytes.Buffer
	srv, clock := load(t, Paths{Cert: files.Cert, Key: files.Key}, &log)
	first := srv.Leaf().SerialNumber

	key, err := os.ReadFile(renewed.Key)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{'x'}, len(key))
	mtime := time.Now().Add(time.Minute)
	replace(t, files.Cert, renewed.Cert, mtime)
	if err := os.WriteFile(files.Key, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(files.Key, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Second)
	if srv.configNow(); srv.Leaf().SerialNumber.Cmp(first) != 0 {
		t.Fatal("a certificate with an unreadable key was loaded")
	}
	replace(t, files.Key, renewed.Key, mtime) // same size, same time
	clock.advance(2 * time.Second)
	if srv.configNow(); srv.Leaf().SerialNumber.Cmp(first) != 0 {
		t.Fatal("unchanged-looking files were tried again within a minute")
	}
	clock.advance(time.Minute)
	if srv.configNow(); srv.Leaf().SerialNumber.Cmp(first) == 0 {
		t.Fatalf("the files were not tried again after a minute; log:\n%s", log.String())
	}
}

// TestLoadsInlinePEM: values that are PEM themselves (secrets from the
// environment) serve as files do, and an error never quotes them.
func TestLoadsInlinePEM(t *testing.T) {
	files := tlstest.New(t)
	other := tlstest.New(t)
	var log bytes.Buffer
	// The key as openssl pkcs12 -nodes writes it: text before the header.
	key := "Bag Attributes\n    localKeyID: 01\n" + tlstest.ReadPEM(t, files.Key)
	srv, _ := load(t, Paths{Cert: tlstest.ReadPEM(t, files.Cert), Key: key, ClientCA: tlstest.ReadPEM(t, files.CA)}, &log)
	if _, err := handshake(t, srv, files.ClientConfig(t, true)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := handshake(t, srv, files.ClientConfig(t, false)); err == nil {
		t.Fatal("the inline client CA asked for no certificate")
	}
	for name, badKey := range map[string]string{
		"key of another certificate": tlstest.ReadPEM(t, other.Key),
		"no PEM block":               "Bag Attributes\n    c2VjcmV0IGtleQ==\n",
	} {
		_, err := Load(Paths{Cert: tlstest.ReadPEM(t, files.Cert), Key: badKey}, nil)
		if err == nil || !strings.Contains(err.Error(), "(inline PEM)") || strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("Load with a %s: %v; want an error naming no PEM", name, err)
		}
	}
}
