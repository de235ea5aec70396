package sasl

import (
	"errors"
	"strings"
	"testing"

	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// A user given a stored credential instead of a password authenticates
// with franz-go's clients: with that SCRAM mechanism and with PLAIN, not
// with the other SCRAM mechanism, and never with a wrong password.
func TestStoredCredentials(t *testing.T) {
	cred256, err := NewCredential(ScramSHA256, "correct horse", 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred512, err := NewCredential(ScramSHA512, "battery staple", 8192)
	if err != nil {
		t.Fatal(err)
	}
	users := NewUsers(map[string]string{"alice": cred256, "bob": cred512, "carol": "plain password"})
	clients := map[string]func(user, pass string) kgosasl.Mechanism{
		Plain:       func(u, p string) kgosasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		ScramSHA256: func(u, p string) kgosasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		ScramSHA512: func(u, p string) kgosasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
	}
	tests := []struct {
		mechanism, user, pass string
		ok                    bool
	}{
		{ScramSHA256, "alice", "correct horse", true},
		{Plain, "alice", "correct horse", true},
		{ScramSHA256, "alice", "correct horsE", false},
		{Plain, "alice", "correct horsE", false},
		{ScramSHA512, "alice", "correct horse", false}, // no SHA-512 credential
		{ScramSHA512, "bob", "battery staple", true},   // 8192 iterations
		{Plain, "bob", "battery staple", true},
		{ScramSHA256, "bob", "battery staple", false},
		{Plain, "carol", "plain password", true}, // passwords still work beside credentials
		{ScramSHA256, "carol", "plain password", true},
		{Plain, "mallory", "correct horse", false},
	}
	for _, tt := range tests {
		t.Run(tt.mechanism+"/"+tt.user+"/"+tt.pass, func(t *testing.T) {
			user, serverErr, clientErr := run(t, users, clients[tt.mechanism](tt.user, tt.pass))
			if clientErr != nil {
				t.Fatalf("client refused the server: %v", clientErr)
			}
			if tt.ok != (serverErr == nil) || tt.ok && user != tt.user {
				t.Fatalf("got user %q, err %v; want ok=%v", user, serverErr, tt.ok)
			}
			if !tt.ok && !errors.Is(serverErr, ErrAuthenticationFailed) {
				t.Fatalf("err %v, want ErrAuthenticationFailed", serverErr)
			}
		})
	}
	if got := strings.Join(users.Names(), ","); got != "alice,bob,carol" {
		t.Errorf("Names() = %s", got)
	}
}

func TestParseUsersChecksCredentials(t *testing.T) {
	good, err := NewCredential(ScramSHA256, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(good, ":")
	tests := []struct {
		name, list, want string
	}{
		{"good", "app:" + good, ""},
		{"few fields", "app:scram-sha-256:4096:c2FsdA==", "entry 1: SCRAM-SHA-256 credential: want scram-sha-256:ITERATIONS"},
		{"few iterations", "app:" + strings.Replace(good, ":4096:", ":1000:", 1), "iterations must be 4096 to"},
		{"salt not base64", "app:" + strings.Join([]string{fields[0], fields[1], "!!", fields[3], fields[4]}, ":"), "the salt is not base64"},
		{"short key", "ops:x,app:" + strings.Join([]string{fields[0], fields[1], fields[2], "c2hvcnQ=", fields[4]}, ":"), "entry 2: SCRAM-SHA-256 credential: the stored key is 5 bytes, want 32"},
		{"a password that merely resembles one", "app:scram-sha-1:whatever", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUsers(tt.list)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseUsers: %v, want an error containing %q", err, tt.want)
			}
			for _, secret := range fields[2:] {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q quotes the credential", err)
				}
			}
		})
	}
	if _, err := NewCredential("SCRAM-SHA-1", "pw", 4096); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("NewCredential(SCRAM-SHA-1): %v", err)
	}
}
