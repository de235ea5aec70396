package sasl

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// plainExchange is SASL PLAIN (RFC 4616): one message,
// "authzid NUL authcid NUL password", answered with nothing.
type plainExchange struct {
	users  *Users
	client string // the client's address, "" if unknown
	user   string
	done   bool
}

func (x *plainExchange) Next(msg []byte) ([]byte, bool, error) {
	if x.done {
		return nil, false, fmt.Errorf("%w: PLAIN takes one message", ErrAuthenticationFailed)
	}
	x.done = true
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("%w: malformed PLAIN message", ErrAuthenticationFailed)
	}
	authzid, name, password := string(parts[0]), string(parts[1]), parts[2]
	if authzid != "" && authzid != name {
		return nil, false, fmt.Errorf("%w: authorization id %q differs from the user name", ErrAuthenticationFailed, authzid)
	}
	ok, err := x.users.checkPassword(x.client, name, password)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, fmt.Errorf("%w: invalid user name or password (PLAIN)", ErrAuthenticationFailed)
	}
	x.user = name
	return []byte{}, true, nil
}

func (x *plainExchange) User() string { return x.user }

// plainChecks is what checking PLAIN passwords against stored
// credentials needs. Such a check derives the password (PBKDF2, a
// millisecond or more), so it is both a timing signal and a way for
// anyone to spend the broker's CPU: every name pays the same derivations
// (one per mechanism that has credentials: the user's own real one, fakes
// for the rest); checks are rate-limited per client address and in all,
// the latter scaled to what a check costs; and a user's last accepted
// password is remembered (as a keyed digest) so that its reconnections
// derive nothing. A client past its rate is refused without a
// derivation; behind a proxy that hides addresses, clients share one.
type plainChecks struct {
	fakes       []credential // one per mechanism with credentials, its iterations
	all         *rateLimiter
	perClient   map[string]*rateLimiter
	digestKey   []byte       // keys the digests of accepted passwords
	derivations atomic.Int64 // done so far, for tests

	mu       sync.Mutex
	accepted map[string][sha256.Size]byte // user: digest of the password last accepted
}

// PLAIN checks allowed per client address: a burst, then a rate a second.
const (
	plainClientBurst = 8
	plainClientRate  = 4
	// plainBudget is the derivation work allowed a second in all, in
	// PBKDF2-SHA-256 iterations: 64 checks of one credential at Kafka's
	// default count, some 5% of one core.
	plainBudget = 64 * scramIterations
	// maxPlainClients bounds the per-client limiters remembered; past it
	// they are forgotten all at once.
	maxPlainClients = 4096
)

func newPlainChecks(u *Users) *plainChecks {
	pc := &plainChecks{perClient: make(map[string]*rateLimiter), accepted: make(map[string][sha256.Size]byte), digestKey: make([]byte, 32)}
	rand.Read(pc.digestKey)
	cost := 0 // iterations of SHA-256 one check costs (SHA-512 counts three)
	for _, h := range []scramHash{sha256Scram, sha512Scram} {
		n, ok := u.credentialIterations[h.mechanism]
		if !ok {
			continue
		}
		salt := make([]byte, 16)
		rand.Read(salt)
		pc.fakes = append(pc.fakes, credential{h: h, keys: &scramKeys{salt: salt, iterations: n, storedKey: make([]byte, h.new().Size())}})
		if h.mechanism == ScramSHA512 {
			n *= 3
		}
		cost += n
	}
	rate := float64(plainBudget) / float64(max(1, cost))
	pc.all = newRateLimiter(max(1, rate), rate)
	return pc
}

// allow takes a token for one check from client's limiter and the
// overall one.
func (pc *plainChecks) allow(client string, now time.Time) bool {
	pc.mu.Lock()
	l, ok := pc.perClient[client]
	if !ok {
		if len(pc.perClient) >= maxPlainClients {
			clear(pc.perClient)
		}
		l = newRateLimiter(plainClientBurst, plainClientRate)
		pc.perClient[client] = l
	}
	pc.mu.Unlock()
	return l.allow(now) && pc.all.allow(now)
}

// digest is the keyed digest accepted passwords are remembered by: no
// fast hash of a password sits in memory.
func (pc *plainChecks) digest(password []byte) [sha256.Size]byte {
	mac := hmac.New(sha256.New, pc.digestKey)
	mac.Write(password)
	var d [sha256.Size]byte
	copy(d[:], mac.Sum(nil))
	return d
}

// errPlainBusy refuses a PLAIN check when derivations are rate-limited.
var errPlainBusy = fmt.Errorf("%w: too many PLAIN attempts, try again", ErrAuthenticationFailed)

// checkPassword reports whether password is user's. A password given as
// such is compared as a digest, so that neither the comparison's time nor
// an early exit on length says anything about it. While any user has a
// stored credential every name also pays plainChecks' derivations.
func (u *Users) checkPassword(client, user string, password []byte) (bool, error) {
	digest := sha256.Sum256(password)
	want, known := u.passwords[user]
	stored := sha256.Sum256([]byte(want))
	ok := subtle.ConstantTimeCompare(digest[:], stored[:]) == 1 && known
	pc := u.plain
	if len(pc.fakes) == 0 {
		return ok, nil
	}
	cred, hasCredential := u.credentials[user]
	keyed := pc.digest(password)
	if hasCredential && pc.remembers(user, keyed) {
		return true, nil
	}
	if !pc.allow(client, time.Now()) {
		return false, errPlainBusy
	}
	for _, fake := range pc.fakes {
		pc.derivations.Add(1)
		if hasCredential && fake.h.mechanism == cred.h.mechanism {
			ok = cred.matches(password)
		} else {
			fake.matches(password)
		}
	}
	if ok && hasCredential {
		pc.remember(user, keyed)
	}
	return ok, nil
}

func (pc *plainChecks) remembers(user string, digest [sha256.Size]byte) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	last, ok := pc.accepted[user]
	return ok && subtle.ConstantTimeCompare(last[:], digest[:]) == 1
}

func (pc *plainChecks) remember(user string, digest [sha256.Size]byte) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.accepted[user] = digest
}

// rateLimiter is a token bucket: burst tokens, refilled at rate a second.
type rateLimiter struct {
	mu          sync.Mutex
	tokens      float64
	burst, rate float64
	last        time.Time
}

func newRateLimiter(burst, rate float64) *rateLimiter {
	return &rateLimiter{tokens: burst, burst: burst, rate: rate}
}

// allow takes a token if there is one.
func (l *rateLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
