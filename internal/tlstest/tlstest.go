// Package tlstest makes throwaway certificates for tests: a CA, a server
// certificate for localhost and 127.0.0.1 signed by it, and a client
// certificate signed by it, written as PEM files the way a user would
// hand them to siesta and to Kafka clients.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are the PEM files Write made.
type Files struct {
	CA         string // the CA's certificate: what clients trust
	Cert       string // the server's certificate chain (leaf first)
	Key        string // the server's private key (PKCS #8)
	ClientCert string // a client certificate signed by the CA
	ClientKey  string // its private key
	// ServerName is the name the server certificate is for (it is for
	// 127.0.0.1 too).
	ServerName string
}

// New writes a fresh set of files into a temporary directory of t.
func New(t testing.TB) Files {
	t.Helper()
	files, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Write makes a CA, a server and a client certificate valid from an hour
// ago for a day, and writes them into dir (which must exist).
func Write(dir string) (Files, error) {
	ca, caKey, err := issue(nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "siesta test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return Files{}, err
	}
	server, serverKey, err := issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return Files{}, err
	}
	client, clientKey, err := issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "siesta test client"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Files{}, err
	}
	serverKeyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		return Files{}, err
	}
	clientKeyDER, err := x509.MarshalPKCS8PrivateKey(clientKey)
	if err != nil {
		return Files{}, err
	}
	files := Files{
		CA:         filepath.Join(dir, "ca.pem"),
		Cert:       filepath.Join(dir, "server.pem"),
		Key:        filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
		ServerName: "localhost",
	}
	writes := []struct {
		path, kind string
		der        []byte
	}{
		{files.CA, "CERTIFICATE", ca.Raw},
		{files.Cert, "CERTIFICATE", server.Raw},
		{files.Key, "PRIVATE KEY", serverKeyDER},
		{files.ClientCert, "CERTIFICATE", client.Raw},
		{files.ClientKey, "PRIVATE KEY", clientKeyDER},
	}
	for _, w := range writes {
		data := pem.EncodeToMemory(&pem.Block{Type: w.kind, Bytes: w.der})
		if err := os.WriteFile(w.path, data, 0o600); err != nil {
			return Files{}, err
		}
	}
	return files, nil
}

// issue makes a certificate from tmpl with a new P-256 key, signed by
// parent (self-signed when parent is nil), and returns it with its key.
func issue(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := parent, parentKey
	if parent == nil {
		signer, signerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// ClientConfig is a client's TLS configuration trusting the CA, with the
// client certificate when withCert is set.
func (f Files) ClientConfig(t testing.TB, withCert bool) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", f.CA)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// ReadPEM returns a file's PEM as a string, as a platform hands a secret
// over in the environment.
func ReadPEM(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
