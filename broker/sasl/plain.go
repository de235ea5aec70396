package sasl

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// plainExchange is SASL PLAIN (RFC 4616): one message,
// "authzid NUL authcid NUL password", answered with nothing.
type plainExchange struct {
	users *Users
	user  string
	done  bool
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
	if !x.users.checkPassword(name, password) {
		return nil, false, fmt.Errorf("%w: invalid user name or password (PLAIN)", ErrAuthenticationFailed)
	}
	x.user = name
	return []byte{}, true, nil
}

func (x *plainExchange) User() string { return x.user }

// checkPassword reports whether password is user's. A user given a
// password has it compared as a digest, so that neither the comparison's
// time nor an early exit on length says anything about it; a user given
// a credential has it derived into keys (PBKDF2), and when any user has a
// credential every other name pays a derivation too, so that the time
// taken does not tell which names have one, or exist.
func (u *Users) checkPassword(user string, password []byte) bool {
	if c, ok := u.credentials[user]; ok {
		return c.matches(password)
	}
	if len(u.credentials) > 0 {
		u.fakeCredential.matches(password)
	}
	want, known := u.passwords[user]
	got := sha256.Sum256(password)
	stored := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], stored[:]) == 1 && known
}
