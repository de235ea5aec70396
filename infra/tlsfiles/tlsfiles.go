// Package tlsfiles serves TLS from PEM files a user names: a certificate
// chain and its private key, and optionally the CAs that client
// certificates must be signed by. The files are read again when they
// change, so a renewed certificate (certbot, cert-manager, a redeployed
// secret) is served to new connections without a restart.
package tlsfiles

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Paths names the files. Cert and Key are required; ClientCA, when set,
// makes every client present a certificate signed by one of its CAs
// (Kafka's ssl.client.auth=required). Each may instead hold the PEM
// itself (see IsInline), as a platform's secrets
// arrive in the environment (Fly.io); such a value never changes, and is
// never quoted in an error or a log.
type Paths struct {
	Cert     string // certificate chain, leaf first (PEM)
	Key      string // the leaf's private key (PEM: PKCS #1, PKCS #8 or EC)
	ClientCA string // CA certificates trusted for client certificates (PEM)
}

// recheckEvery bounds how often the files are looked at: at most one stat
// of each per second, however many connections arrive.
const recheckEvery = time.Second

// retryFailedEvery is how often files that failed to load are tried again
// although they look unchanged: the failure may not have been their
// content (a key not yet readable by this user, a process out of file
// descriptors), and each failure is logged again meanwhile.
const retryFailedEvery = time.Minute

// Server hands out the TLS configuration built from the files as they are
// now. Its methods are safe for concurrent use.
type Server struct {
	paths Paths
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	current  *tls.Config
	loaded   stamps    // the files current was built from
	failed   stamps    // the files a reload last failed on
	failedAt time.Time // when it failed
	checked  time.Time // when the files were last looked at
}

// stamps tell whether the files changed: size and modification time of
// each, in Paths order.
type stamps [3]stamp

type stamp struct {
	size    int64
	modTime time.Time
}

// Load reads the files and returns a Server for them. Reload failures
// later are logged to logger and the files last loaded go on being
// served.
func Load(paths Paths, logger *slog.Logger) (*Server, error) {
	if paths.Cert == "" || paths.Key == "" {
		return nil, errors.New("tls: a certificate and a key file are both required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{paths: paths, log: logger, now: time.Now}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	cfg, err := s.build()
	if err != nil {
		return nil, err
	}
	s.current, s.loaded, s.checked = cfg, st, s.now()
	if leaf := cfg.Certificates[0].Leaf; s.now().After(leaf.NotAfter) {
		logger.Warn("tls: the certificate has expired; clients will refuse it", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	return s, nil
}

// Config is the configuration to serve with: each handshake gets the one
// built from the files as they were when last checked.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.configNow(), nil
		},
	}
}

// Leaf is the server certificate being served.
func (s *Server) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current.Certificates[0].Leaf
}

// configNow returns the current configuration, first reloading the files
// if a second has passed since they were last looked at and they changed.
func (s *Server) configNow() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < recheckEvery && !now.Before(s.checked) {
		return s.current
	}
	s.checked = now
	st, err := s.stat()
	retry := st == s.failed && now.Sub(s.failedAt) >= retryFailedEvery
	if err != nil {
		if st != s.failed || retry {
			s.failed, s.failedAt = st, now
			s.log.Warn("tls: files unreadable, serving the ones loaded before", "err", err)
		}
		return s.current
	}
	if st == s.loaded || st == s.failed && !retry {
		return s.current
	}
	cfg, err := s.build()
	if err != nil {
		// Often a renewal caught halfway (the new certificate beside the
		// old key): the next change of either file is tried at once,
		// the same files again after retryFailedEvery.
		s.failed, s.failedAt = st, now
		s.log.Warn("tls: reloading failed, serving the files loaded before", "err", err)
		return s.current
	}
	s.current, s.loaded, s.failed = cfg, st, stamps{}
	leaf := cfg.Certificates[0].Leaf
	s.log.Info("tls: reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	return cfg
}

// stat returns the files' stamps, and the first file that cannot be
// looked at.
func (s *Server) stat() (stamps, error) {
	var st stamps
	var first error
	for i, path := range []string{s.paths.Cert, s.paths.Key, s.paths.ClientCA} {
		if path == "" || IsInline(path) {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("tls: %w", err))
			continue
		}
		st[i] = stamp{size: fi.Size(), modTime: fi.ModTime()}
	}
	return st, first
}

// build reads the files into a configuration.
func (s *Server) build() (*tls.Config, error) {
	certPEM, err := readPEM(s.paths.Cert)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate: %w", err)
	}
	keyPEM, err := readPEM(s.paths.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s and key %s: %w", describe(s.paths.Cert), describe(s.paths.Key), err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
	}
	if s.paths.ClientCA != "" {
		data, err := readPEM(s.paths.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("tls: client CA %s: no PEM certificate in it", describe(s.paths.ClientCA))
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// IsInline reports whether a Paths value is PEM itself, not a file name:
// it holds a PEM header or a line break anywhere (tools put text before
// the first header, such as openssl pkcs12's "Bag Attributes"), which no
// file name does.
func IsInline(v string) bool {
	return strings.Contains(v, "-----BEGIN") || strings.ContainsAny(v, "\r\n")
}

// readPEM returns a Paths value's PEM: itself, or the file's contents.
func readPEM(v string) ([]byte, error) {
	if IsInline(v) {
		return []byte(v), nil
	}
	return os.ReadFile(v)
}

// describe names a Paths value in an error: the file, or "(inline PEM)",
// never the PEM, which may be a private key.
func describe(v string) string {
	if IsInline(v) {
		return "(inline PEM)"
	}
	return v
}
