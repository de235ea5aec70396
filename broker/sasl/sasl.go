// Package sasl authenticates Kafka clients against a fixed set of users
// with the SASL mechanisms Kafka brokers offer for passwords: PLAIN
// (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677).
//
// It knows nothing of Kafka framing: the broker feeds each client message
// of an exchange to Exchange.Next and sends back what it returns.
package sasl

import (
	"crypto/rand"
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

// Users is the set of users that may connect, each with a password or a
// stored SCRAM credential. It is safe for concurrent use.
type Users struct {
	passwords   map[string]string     // users given a password
	credentials map[string]credential // users given a stored credential

	// credentialIterations is the iteration count of each mechanism's
	// stored credentials (ParseUsers makes them agree).
	credentialIterations map[string]int

	// fakeSalt is the secret unknown users' salts are derived from.
	fakeSalt []byte

	// plain is the state of PLAIN checks against stored credentials.
	plain *plainChecks

	mu sync.Mutex
	// scram holds each user's SCRAM keys per mechanism, derived for all
	// users on the mechanism's first exchange (PBKDF2 costs
	// milliseconds per user, which a starting broker does not spend);
	// derived records the mechanisms done.
	scram   map[scramKeyID]*scramKeys
	derived map[string]bool
}

// NewUsers returns the users of secrets (name to password, or to a stored
// SCRAM credential; see ParseUsers). A secret that begins like a
// credential but is not one counts as a password: ParseUsers refuses it.
func NewUsers(secrets map[string]string) *Users {
	fakeSalt := make([]byte, 32)
	rand.Read(fakeSalt)
	u := &Users{
		passwords:            make(map[string]string),
		credentials:          make(map[string]credential),
		credentialIterations: make(map[string]int),
		fakeSalt:             fakeSalt,
		scram:                make(map[scramKeyID]*scramKeys),
		derived:              make(map[string]bool),
	}
	for name, secret := range secrets {
		c, ok, err := parseCredential(secret)
		if !ok || err != nil {
			u.passwords[name] = secret
			continue
		}
		u.credentials[name] = c
		u.scram[scramKeyID{name, c.h.mechanism}] = c.keys
		u.credentialIterations[c.h.mechanism] = c.keys.iterations
	}
	u.plain = newPlainChecks(u)
	return u
}

// Mechanisms lists the mechanisms Start accepts, as SaslHandshake reports
// them.
func (u *Users) Mechanisms() []string {
	return []string{Plain, ScramSHA256, ScramSHA512}
}

// Start begins an exchange with the mechanism a client asked for (names
// are case-sensitive, as in Kafka).
func (u *Users) Start(mechanism string) (Exchange, error) {
	return u.StartFor(mechanism, "")
}

// StartFor is Start for a client at a known address (its host): PLAIN
// checks that cost a key derivation are rate-limited per client address
// as well as in all (see plainChecks).
func (u *Users) StartFor(mechanism, client string) (Exchange, error) {
	switch mechanism {
	case Plain:
		return &plainExchange{users: u, client: client}, nil
	case ScramSHA256:
		return newScramExchange(u, sha256Scram), nil
	case ScramSHA512:
		return newScramExchange(u, sha512Scram), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
}

// ParseUsers reads a user list: entries "name:password" separated by
// commas or newlines, blanks around entries ignored. A name cannot hold
// ':' or blanks and a password cannot hold ',' or a newline. In place of
// a password an entry may hold a stored SCRAM credential,
// "scram-sha-256:..." or "scram-sha-512:..." (see NewCredential), all
// of one mechanism with one iteration count; a password cannot begin with
// "scram-". Errors name entries by their position
// only: a password holding a ',' splits into entries, and no piece of it
// may end up in a log.
func ParseUsers(s string) (map[string]string, error) {
	users := make(map[string]string)
	position := make(map[string]int)
	// iterationsAt is, per mechanism, the first credential's iteration
	// count and its entry.
	type firstCredential struct{ iterations, entry int }
	iterationsAt := make(map[string]firstCredential)
	entries := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n := i + 1
		name, password, ok := strings.Cut(entry, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d: want name:password", n)
		case name == "":
			return nil, fmt.Errorf("entry %d: empty user name", n)
		case password == "":
			return nil, fmt.Errorf("entry %d: empty password", n)
		case strings.ContainsAny(name, " \t"):
			return nil, fmt.Errorf("entry %d: user name has a blank", n)
		}
		c, isCredential, err := parseCredential(password)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", n, err)
		}
		if isCredential {
			if first, seen := iterationsAt[c.h.mechanism]; seen && first.iterations != c.keys.iterations {
				return nil, fmt.Errorf("entry %d: %s credentials must all have one iteration count; entry %d has %d, this one %d", n, c.h.mechanism, first.entry, first.iterations, c.keys.iterations)
			} else if !seen {
				iterationsAt[c.h.mechanism] = firstCredential{c.keys.iterations, n}
			}
		}
		if first, dup := position[name]; dup {
			return nil, fmt.Errorf("entry %d: the user of entry %d again", n, first)
		}
		users[name], position[name] = password, n
	}
	if len(users) == 0 {
		return nil, errors.New("no users")
	}
	return users, nil
}

// Names returns the user names, sorted.
func (u *Users) Names() []string {
	names := make([]string, 0, len(u.passwords)+len(u.credentials))
	for name := range u.passwords {
		names = append(names, name)
	}
	for name := range u.credentials {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
