package sasl

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/plain"
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
	clients := franzClients
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
		{"a mechanism siesta has no credentials for", "app:scram-sha-1:whatever", "entry 1: a secret beginning with scram- must be"},
		{"upper case", "app:" + strings.ToUpper(fields[0]) + ":" + strings.Join(fields[1:], ":"), ""},
		{"iteration counts that differ", "app:" + good + ",ops:" + mustCredential(t, ScramSHA256, 8192) + ",x:" + mustCredential(t, ScramSHA512, 8192),
			"entry 2: SCRAM-SHA-256 credentials must all have one iteration count; entry 1 has 4096, this one 8192"},
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

func mustCredential(t *testing.T, mechanism string, iterations int) string {
	t.Helper()
	c, err := NewCredential(mechanism, "pw", iterations)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// With stored credentials, a PLAIN check costs every name the same
// derivations (one per mechanism with credentials), and every name's
// SCRAM exchange shows the credentials' iteration count: neither time
// nor the exchange tells which names exist or have a credential.
func TestPlainAndScramDoNotTellCredentialUsersApart(t *testing.T) {
	users := NewUsers(map[string]string{
		"c256":  mustCredential(t, ScramSHA256, 8192),
		"c512":  mustCredential(t, ScramSHA512, 8192),
		"plain": "pw",
	})
	for _, name := range []string{"c256", "c512", "plain", "mallory"} {
		for _, password := range []string{"pw", "wrong"} {
			before := users.plain.derivations.Load()
			run(t, users, plain.Auth{User: name, Pass: password}.AsMechanism())
			if got := users.plain.derivations.Load() - before; got != 2 {
				t.Errorf("PLAIN %s/%s: %d derivations, want 2 (one per mechanism with credentials)", name, password, got)
			}
		}
		if first := serverFirst(t, users, name); !strings.HasSuffix(first, ",i=8192") {
			t.Errorf("%s: server-first %q, want the credentials' 8192 iterations", name, first)
		}
	}
}

// plainFrom runs one PLAIN exchange from a client address.
func plainFrom(t *testing.T, users *Users, client, user, password string) error {
	t.Helper()
	x, err := users.StartFor(Plain, client)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = x.Next([]byte("\x00" + user + "\x00" + password))
	return err
}

// PLAIN checks against credentials are rate-limited per client address,
// so one client's guesses cannot spend the broker's CPU nor lock others
// out; a user whose password was accepted before reconnects without a
// derivation even from an address past its rate.
func TestPlainDerivationsAreRateLimited(t *testing.T) {
	users := NewUsers(map[string]string{"app": mustCredential(t, ScramSHA256, 4096)})
	// No refill: how fast the attempts run (slowly, under the race
	// detector) must not decide the test.
	users.plain.perClient["guesser"] = newRateLimiter(plainClientBurst, 0)
	if err := plainFrom(t, users, "app-host", "app", "pw"); err != nil {
		t.Fatal(err)
	}
	var busy int
	for range 2 * plainClientBurst {
		if err := plainFrom(t, users, "guesser", "mallory", "guess"); errors.Is(err, errPlainBusy) {
			busy++
		}
	}
	if busy != plainClientBurst {
		t.Fatalf("%d of %d guesses refused as too many, want all past the burst of %d", busy, 2*plainClientBurst, plainClientBurst)
	}
	derived := users.plain.derivations.Load()
	if err := plainFrom(t, users, "guesser", "app", "pw"); err != nil {
		t.Fatalf("app, accepted before, from the guesser's address: %v", err)
	}
	if err := plainFrom(t, users, "other-host", "mallory", "guess"); errors.Is(err, errPlainBusy) || !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("a guess from another address: %v, want it checked (and refused as wrong)", err)
	}
	if got := users.plain.derivations.Load() - derived; got != 1 {
		t.Fatalf("%d derivations for a remembered user and one other check, want 1", got)
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2, 4)
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, false}, // the burst
		{100 * time.Millisecond, false}, // 0.4 of a token back
		{250 * time.Millisecond, true},  // one
		{250 * time.Millisecond, false},
		{10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, false}, // refilled to the burst, no more
	}
	for i, s := range steps {
		if got := l.allow(t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d at %v: allow = %v, want %v", i, s.at, got, s.want)
		}
	}
}
