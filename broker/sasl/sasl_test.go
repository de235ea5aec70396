package sasl

import (
	"context"
	"errors"
	"strings"
	"testing"

	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// run drives a server exchange with a client mechanism (franz-go's, an
// implementation written independently of this package) until either side
// finishes, and returns the server's verdict and the client's.
func run(t *testing.T, users *Users, client kgosasl.Mechanism) (user string, serverErr, clientErr error) {
	t.Helper()
	x, err := users.Start(client.Name())
	if err != nil {
		t.Fatalf("Start(%s): %v", client.Name(), err)
	}
	session, msg, err := client.Authenticate(context.Background(), "siesta:9092")
	if err != nil {
		t.Fatalf("client Authenticate: %v", err)
	}
	for range 4 {
		answer, done, err := x.Next(msg)
		if err != nil {
			return "", err, nil
		}
		clientDone, next, err := session.Challenge(answer)
		if err != nil {
			return "", nil, err
		}
		if done {
			if !clientDone {
				t.Fatalf("server finished, client did not")
			}
			return x.User(), nil, nil
		}
		if clientDone {
			t.Fatalf("client finished, server did not")
		}
		msg = next
	}
	t.Fatal("exchange did not finish in 4 rounds")
	return "", nil, nil
}

// franzClients makes franz-go's client of each mechanism for a user.
var franzClients = map[string]func(user, pass string) kgosasl.Mechanism{
	Plain:       func(u, p string) kgosasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
	ScramSHA256: func(u, p string) kgosasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
	ScramSHA512: func(u, p string) kgosasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
}

func TestExchangesWithFranzGoClients(t *testing.T) {
	users := NewUsers(map[string]string{"alice": "correct horse", "bob,=odd": "b:p=w"})
	mechanisms := franzClients
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "alice", "correct horse", true},
		{"name and password with SCRAM's escaped characters", "bob,=odd", "b:p=w", true},
		{"wrong password", "alice", "correct horsE", false},
		{"unknown user", "mallory", "correct horse", false},
		{"another user's password", "bob,=odd", "correct horse", false},
	}
	for mech, client := range mechanisms {
		for _, tt := range tests {
			t.Run(mech+"/"+tt.name, func(t *testing.T) {
				user, serverErr, clientErr := run(t, users, client(tt.user, tt.pass))
				if clientErr != nil {
					t.Fatalf("client refused the server: %v", clientErr)
				}
				if tt.ok {
					if serverErr != nil || user != tt.user {
						t.Fatalf("got user %q, err %v; want %q authenticated", user, serverErr, tt.user)
					}
					return
				}
				if !errors.Is(serverErr, ErrAuthenticationFailed) {
					t.Fatalf("got user %q, err %v; want ErrAuthenticationFailed", user, serverErr)
				}
				if strings.Contains(serverErr.Error(), tt.pass) {
					t.Fatalf("error %q quotes the password", serverErr)
				}
			})
		}
	}
}

// serverFirst starts a SCRAM-SHA-256 exchange for user and returns the
// server-first message.
func serverFirst(t *testing.T, users *Users, user string) string {
	t.Helper()
	x, _ := users.Start(ScramSHA256)
	answer, _, err := x.Next([]byte("n,,n=" + user + ",r=abcdefgh"))
	if err != nil {
		t.Fatalf("client-first: %v", err)
	}
	return string(answer)
}

func salt(msg string) string {
	for attr := range strings.SplitSeq(msg, ",") {
		if s, ok := strings.CutPrefix(attr, "s="); ok {
			return s
		}
	}
	return ""
}

// An unknown user's exchange looks like a known one's until the proof:
// a salt that is the same on every attempt, and the same iterations.
func TestScramDoesNotTellWhichUsersExist(t *testing.T) {
	users := NewUsers(map[string]string{"alice": "pw"})
	for _, user := range []string{"alice", "mallory"} {
		first, again := serverFirst(t, users, user), serverFirst(t, users, user)
		if salt(first) == "" || salt(first) != salt(again) {
			t.Errorf("%s: salts %q then %q, want one stable salt", user, salt(first), salt(again))
		}
		if !strings.HasSuffix(first, ",i=4096") {
			t.Errorf("%s: server-first %q, want 4096 iterations", user, first)
		}
	}
	if salt(serverFirst(t, users, "alice")) == salt(serverFirst(t, users, "mallory")) {
		t.Error("two users share a salt")
	}
}

// Deriving SCRAM keys (PBKDF2) takes milliseconds and an unknown name
// takes none, so a known user's first exchange must not be the one that
// pays for that user's keys: whatever name comes first, every user's
// keys for the mechanism are derived then.
func TestScramFirstExchangeDerivesEveryUsersKeys(t *testing.T) {
	for _, first := range []string{"mallory", "alice", "bob"} {
		for _, mechanism := range []string{ScramSHA256, ScramSHA512} {
			t.Run(mechanism+"/"+first, func(t *testing.T) {
				users := NewUsers(map[string]string{"alice": "pw", "bob": "pw2"})
				x, _ := users.Start(mechanism)
				if _, _, err := x.Next([]byte("n,,n=" + first + ",r=abcdefgh")); err != nil {
					t.Fatalf("client-first: %v", err)
				}
				for _, user := range users.Names() {
					if users.scram[scramKeyID{user, mechanism}] == nil {
						t.Errorf("after %s's exchange, %s's keys are not derived yet", first, user)
					}
				}
			})
		}
	}
}

func TestMalformedMessagesFail(t *testing.T) {
	users := NewUsers(map[string]string{"alice": "pw"})
	tests := []struct {
		mechanism string
		msgs      []string
	}{
		{Plain, []string{"alice\x00pw"}},
		{Plain, []string{"bob\x00alice\x00pw"}},
		{Plain, []string{"\x00alice\x00pw\x00"}},
		{ScramSHA256, []string{"p=tls-unique,,n=alice,r=abc"}},
		{ScramSHA256, []string{"n,,r=abc,n=alice"}},
		{ScramSHA256, []string{"n,,n=alice,r=a,bc"}},
		{ScramSHA256, []string{"n,,n=al=3Xice,r=abc"}},
		{ScramSHA256, []string{"n,a=bob,n=alice,r=abc"}},
		{ScramSHA256, []string{"n,,n=alice,r=abc,tokenauth=true"}},
		{ScramSHA256, []string{"n,,n=alice,r=abc,m=ext"}},
		{ScramSHA256, []string{"n,,n=alice,r=abc", "c=biws,r=abc,p=AAAA"}},             // nonce without the server's part
		{ScramSHA256, []string{"n,,n=alice,r=abc", "c=eSws,r=abc,p=AAAA"}},             // channel binding "y,," after "n,,"
		{ScramSHA256, []string{"n,,n=alice,r=abc", "c=biws,r=abc"}},                    // no proof
		{ScramSHA512, []string{"n,,n=alice,r=abc", "c=biws,r=abc,p=not base64!"}},      // proof not base64
		{ScramSHA512, []string{"", ""}},                                                // empty
		{ScramSHA512, []string{"n,,n=,r=abc"}},                                         // empty name
		{ScramSHA512, []string{"n,,n=alice,r=abc", "c=biws,r=NONCE,p=AAAA", "c=biws"}}, // proof too short, then more
	}
	for _, tt := range tests {
		t.Run(tt.mechanism+"/"+strings.Join(tt.msgs, "|"), func(t *testing.T) {
			x, err := users.Start(tt.mechanism)
			if err != nil {
				t.Fatal(err)
			}
			var last error
			nonce := ""
			for _, msg := range tt.msgs {
				answer, done, err := x.Next([]byte(strings.Replace(msg, "NONCE", nonce, 1)))
				if done {
					t.Fatalf("%q authenticated", msg)
				}
				if err != nil {
					last = err
					break
				}
				if r, ok := strings.CutPrefix(strings.Split(string(answer), ",")[0], "r="); ok {
					nonce = r
				}
			}
			if !errors.Is(last, ErrAuthenticationFailed) {
				t.Fatalf("got %v, want ErrAuthenticationFailed", last)
			}
		})
	}
}

func TestStartRefusesUnknownMechanisms(t *testing.T) {
	users := NewUsers(map[string]string{"alice": "pw"})
	for _, m := range []string{"GSSAPI", "OAUTHBEARER", "plain", "SCRAM-SHA-1"} {
		if _, err := users.Start(m); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("Start(%q): %v, want ErrUnsupportedMechanism", m, err)
		}
	}
}

func TestParseUsers(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "alice:pw", want: map[string]string{"alice": "pw"}},
		{in: " alice:p:w=x , bob:2\n carol:3\n", want: map[string]string{"alice": "p:w=x", "bob": "2", "carol": "3"}},
		{in: "", wantErr: "no users"},
		{in: "alice", wantErr: "entry 1: want name:password"},
		{in: ":secret", wantErr: "entry 1: empty user name"},
		{in: "alice:", wantErr: "entry 1: empty password"},
		{in: "alice:a,bob:b,alice:c", wantErr: "entry 3: the user of entry 1 again"},
		{in: "al ice:secret", wantErr: "entry 1: user name has a blank"},
		// A password holding ',' splits; no piece of it is quoted.
		{in: "app:se,cret x:y", wantErr: "entry 2: user name has a blank"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseUsers(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error %q", got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %q quotes a password", err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
