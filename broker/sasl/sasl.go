// Package sasl authenticates Kafka clients against a fixed set of users
// with the SASL mechanisms Kafka brokers offer for passwords: PLAIN
// (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677).
//
// It knows nothing of Kafka framing: the broker feeds each client message
// of an exchange to Exchange.Next and sends back what it returns.
package sasl

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The mechanisms a Users offers, by their IANA names.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

var (
	// ErrUnsupportedMechanism is returned by Start for a mechanism this
	// package does not offer.
	ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")
	// ErrAuthenticationFailed is returned by Exchange.Next when the client
	// is not who it claims to be (unknown user, wrong password) or sent a
	// message the mechanism does not allow. Its wrapped text is safe to
	// send to the client: it never says which of the two it was.
	ErrAuthenticationFailed = errors.New("authentication failed")
)

// Exchange is one client's authentication with one mechanism.
type Exchange interface {
	// Next takes the client's next message and returns the answer to send
	// back. done reports that the client is authenticated; an error means
	// it is not and the exchange is over.
	Next(msg []byte) (answer []byte, done bool, err error)
	// User is the authenticated user's name once Next reported done.
	User() string
}

// Users is the set of users that may connect, with their passwords. It is
// safe for concurrent use.
type Users struct {
	passwords map[string]string

	mu sync.Mutex
	// scram caches each user's SCRAM keys per mechanism, derived on the
	// user's first SCRAM exchange (PBKDF2 costs milliseconds, which a
	// starting broker does not spend).
	scram map[scramKeyID]*scramKeys
	// fakeSalt is the secret unknown users' salts are derived from.
	fakeSalt []byte
}

// NewUsers returns the users of passwords (name to password).
func NewUsers(passwords map[string]string) *Users {
	return &Users{passwords: passwords, scram: make(map[scramKeyID]*scramKeys)}
}

// Mechanisms lists the mechanisms Start accepts, as SaslHandshake reports
// them.
func (u *Users) Mechanisms() []string {
	return []string{Plain, ScramSHA256, ScramSHA512}
}

// Start begins an exchange with the mechanism a client asked for (names
// are case-sensitive, as in Kafka).
func (u *Users) Start(mechanism string) (Exchange, error) {
	switch mechanism {
	case Plain:
		return &plainExchange{users: u}, nil
	case ScramSHA256:
		return newScramExchange(u, sha256Scram), nil
	case ScramSHA512:
		return newScramExchange(u, sha512Scram), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
}

// ParseUsers reads a user list: entries "name:password" separated by
// commas or newlines, blanks around entries ignored. A name cannot hold
// ':' and a password cannot hold ',' or a newline. Errors never quote a
// password.
func ParseUsers(s string) (map[string]string, error) {
	users := make(map[string]string)
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, password, ok := strings.Cut(entry, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d: want name:password", i+1)
		case name == "":
			return nil, fmt.Errorf("entry %d: empty user name", i+1)
		case password == "":
			return nil, fmt.Errorf("user %q: empty password", name)
		case strings.ContainsAny(name, " \t"):
			return nil, fmt.Errorf("entry %d: user name %q has a blank", i+1, name)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("user %q listed twice", name)
		}
		users[name] = password
	}
	if len(users) == 0 {
		return nil, errors.New("no users")
	}
	return users, nil
}

// Names returns the user names, sorted.
func (u *Users) Names() []string {
	names := make([]string, 0, len(u.passwords))
	for name := range u.passwords {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
