package infra

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     []string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c Config) {
				if c.Listen != ":9092" || c.Storage != "memory://" || !c.AutoCreateTopics || c.DefaultPartitions != 1 || c.MaxRequestBytes != 100<<20 || c.LogFormat != "text" {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "environment",
			env:  []string{"SIESTA_LISTEN=127.0.0.1:19092", "SIESTA_AUTO_CREATE_TOPICS=false", "SIESTA_DEFAULT_PARTITIONS=3", "SIESTA_LOG_FORMAT=json", "SIESTA_LINGER=5ms"},
			check: func(t *testing.T, c Config) {
				if c.Listen != "127.0.0.1:19092" || c.AutoCreateTopics || c.DefaultPartitions != 3 || c.LogFormat != "json" || c.LingerDuration() != 5*time.Millisecond {
					t.Errorf("from env: %+v", c)
				}
			},
		},
		{
			name: "flag wins over environment",
			args: []string{"--listen", "127.0.0.1:29092", "--default-partitions=8"},
			env:  []string{"SIESTA_LISTEN=127.0.0.1:19092", "SIESTA_DEFAULT_PARTITIONS=3"},
			check: func(t *testing.T, c Config) {
				if c.Listen != "127.0.0.1:29092" || c.DefaultPartitions != 8 {
					t.Errorf("flags: %+v", c)
				}
			},
		},
		{name: "bad env number", env: []string{"SIESTA_DEFAULT_PARTITIONS=lots"}, wantErr: "SIESTA_DEFAULT_PARTITIONS"},
		{name: "bad flag", args: []string{"--default-partitions=0"}, wantErr: "default partitions 0"},
		{name: "bad listen", args: []string{"--listen=9092"}, wantErr: "listen address"},
		{name: "bad log format", env: []string{"SIESTA_LOG_FORMAT=xml"}, wantErr: "log format"},
		{name: "bad linger", args: []string{"--linger=soon"}, wantErr: "linger"},
		{name: "bad metrics address", args: []string{"--metrics-listen=9100"}, wantErr: "metrics listen"},
		{
			name: "linger auto",
			args: []string{"--storage=s3://bucket/prefix"},
			check: func(t *testing.T, c Config) {
				if c.LingerDuration() != 5*time.Millisecond {
					t.Errorf("auto linger on s3: %v", c.LingerDuration())
				}
			},
		},
		{name: "bad SASL users", env: []string{"SIESTA_SASL_USERS=app:secret,app:other"}, wantErr: "SIESTA_SASL_USERS: entry 2: the user of entry 1 again"},
		{name: "SASL users without a password", env: []string{"SIESTA_SASL_USERS=app:secret,ops"}, wantErr: "SIESTA_SASL_USERS: entry 2: want name:password"},
		{
			name: "SASL users",
			env:  []string{"SIESTA_SASL_USERS=app:secret,ops:x"},
			check: func(t *testing.T, c Config) {
				if c.SASLUsers != "app:secret,ops:x" {
					t.Errorf("SASLUsers = %q", c.SASLUsers)
				}
			},
		},
		{name: "TLS certificate without key", env: []string{"SIESTA_TLS_CERT=/etc/siesta/cert.pem"}, wantErr: "or neither"},
		{name: "TLS key without certificate", args: []string{"--tls-key=/etc/siesta/key.pem"}, wantErr: "or neither"},
		{name: "TLS client CA alone", env: []string{"SIESTA_TLS_CLIENT_CA=/etc/siesta/ca.pem"}, wantErr: "client CA"},
		{
			name: "TLS",
			env:  []string{"SIESTA_TLS_CERT=/c.pem", "SIESTA_TLS_KEY=/k.pem"},
			args: []string{"--tls-client-ca=/ca.pem"},
			check: func(t *testing.T, c Config) {
				if c.TLSCert != "/c.pem" || c.TLSKey != "/k.pem" || c.TLSClientCA != "/ca.pem" {
					t.Errorf("TLS: %+v", c)
				}
			},
		},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "not defined"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	_, err := Load([]string{"--help"}, nil, &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, name := range []string{"SIESTA_LISTEN", "SIESTA_STORAGE", "SIESTA_ADVERTISE", "SIESTA_AUTO_CREATE_TOPICS", "SIESTA_DEFAULT_PARTITIONS", "SIESTA_MAX_REQUEST_BYTES", "SIESTA_LOG_FORMAT", "SIESTA_SASL_USERS", "SIESTA_TLS_CERT", "SIESTA_TLS_KEY", "SIESTA_TLS_CLIENT_CA"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("--help does not mention %s:\n%s", name, out.String())
		}
	}
}

// --help shows each flag's value from the environment as its default,
// but never a PEM given inline (a private key).
func TestHelpHidesInlinePEM(t *testing.T) {
	t.Parallel()
	// As openssl pkcs12 -nodes writes it: text before the PEM header.
	const key = "Bag Attributes\n    localKeyID: 01\n-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
	var out strings.Builder
	_, err := Load([]string{"--help"}, []string{"SIESTA_TLS_CERT=/etc/siesta/cert.pem", "SIESTA_TLS_KEY=" + key}, &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if strings.Contains(out.String(), "c2VjcmV0") {
		t.Fatalf("--help printed the key:\n%s", out.String())
	}
	for _, want := range []string{`"/etc/siesta/cert.pem"`, "SIESTA_TLS_KEY, default set in the environment"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not say %s:\n%s", want, out.String())
		}
	}
}

// A refused user list is reported without the passwords in it: the
// error goes to logs and terminals.
func TestSASLUsersErrorsQuoteNoPassword(t *testing.T) {
	t.Parallel()
	for _, users := range []string{"app:hunter2,app:hunter3", "app:hunter2,:hunter3", "app:hunter2,ops:"} {
		_, err := Load(nil, []string{"SIESTA_SASL_USERS=" + users}, io.Discard)
		if err == nil || strings.Contains(err.Error(), "hunter") {
			t.Errorf("SIESTA_SASL_USERS=%q: error %v, want one that quotes no password", users, err)
		}
	}
}

func TestAdvertiseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen, configured, want string
	}{
		{"0.0.0.0:9092", "", "localhost:9092"},
		{"[::]:9092", "", "localhost:9092"},
		{"127.0.0.1:19092", "", "127.0.0.1:19092"},
		{"0.0.0.0:9092", "kafka.example.com:9092", "kafka.example.com:9092"},
	}
	for _, tt := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tt.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := AdvertiseAddress(addr, tt.configured); got != tt.want {
			t.Errorf("AdvertiseAddress(%s, %q) = %s, want %s", tt.listen, tt.configured, got, tt.want)
		}
	}
}
