package sasl

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A user may be given a stored SCRAM credential instead of a password, so
// that the password itself is kept nowhere on the broker's side (Kafka
// keeps SCRAM credentials the same way, salted):
//
//	scram-sha-256:ITERATIONS:SALT:STORED-KEY:SERVER-KEY
//
// in lower case, with the salt and keys in standard base64 (RFC 5802's
// StoredKey and ServerKey, section 3). `siesta scram-credential` makes one
// (NewCredential). Such a user authenticates with that SCRAM mechanism, or
// with PLAIN, whose password is checked against the credential; not with
// the other SCRAM mechanism. All credentials of one mechanism share one
// iteration count, which users given a password and unknown names get
// too, so that the count does not tell them apart. A secret beginning
// with "scram-" (in any case) is never a password.

// Iteration bounds of a stored credential: RFC 7677's minimum, and a
// maximum that keeps a PLAIN check (a PBKDF2 per attempt, per mechanism
// that has credentials: a few milliseconds at most) affordable.
const (
	minCredentialIterations = scramIterations
	maxCredentialIterations = 1 << 15
)

// credential is a user's SCRAM keys for one mechanism.
type credential struct {
	h    scramHash
	keys *scramKeys
}

// credentialPrefix is how a credential for h begins.
func credentialPrefix(h scramHash) string { return strings.ToLower(h.mechanism) + ":" }

// parseCredential reads secret as a stored credential. ok is false when
// secret is a password (it does not begin like a credential); err says
// what is wrong with one that begins like a credential but is not one,
// without quoting it.
func parseCredential(secret string) (c credential, ok bool, err error) {
	lower := strings.ToLower(secret)
	var h scramHash
	switch {
	case strings.HasPrefix(lower, credentialPrefix(sha256Scram)):
		h = sha256Scram
	case strings.HasPrefix(lower, credentialPrefix(sha512Scram)):
		h = sha512Scram
	case strings.HasPrefix(lower, "scram-"):
		// Reserved, so that a mistyped credential is refused rather
		// than taken for a password (which would then log in).
		return credential{}, true, errors.New("a secret beginning with scram- must be a scram-sha-256: or scram-sha-512: credential")
	default:
		return credential{}, false, nil
	}
	fields := strings.Split(secret[len(credentialPrefix(h)):], ":")
	if len(fields) != 4 {
		return credential{}, true, fmt.Errorf("%s credential: want %sITERATIONS:SALT:STORED-KEY:SERVER-KEY", h.mechanism, credentialPrefix(h))
	}
	iterations, err := strconv.Atoi(fields[0])
	if err != nil || iterations < minCredentialIterations || iterations > maxCredentialIterations {
		return credential{}, true, fmt.Errorf("%s credential: iterations must be %d to %d", h.mechanism, minCredentialIterations, maxCredentialIterations)
	}
	var parts [3][]byte
	for i, name := range []string{"salt", "stored key", "server key"} {
		parts[i], err = base64.StdEncoding.DecodeString(fields[i+1])
		if err != nil || len(parts[i]) == 0 {
			return credential{}, true, fmt.Errorf("%s credential: the %s is not base64", h.mechanism, name)
		}
		if i > 0 && len(parts[i]) != h.new().Size() {
			return credential{}, true, fmt.Errorf("%s credential: the %s is %d bytes, want %d", h.mechanism, name, len(parts[i]), h.new().Size())
		}
	}
	return credential{h: h, keys: &scramKeys{salt: parts[0], iterations: iterations, storedKey: parts[1], serverKey: parts[2]}}, true, nil
}

// String is the credential in the form parseCredential reads.
func (c credential) String() string {
	enc := base64.StdEncoding.EncodeToString
	return credentialPrefix(c.h) + strconv.Itoa(c.keys.iterations) + ":" + enc(c.keys.salt) + ":" + enc(c.keys.storedKey) + ":" + enc(c.keys.serverKey)
}

// matches reports, in time independent of where they differ, whether
// password is the one the credential was made from.
func (c credential) matches(password []byte) bool {
	keys, err := deriveKeys(c.h, string(password), c.keys.salt, c.keys.iterations)
	return err == nil && subtle.ConstantTimeCompare(keys.storedKey, c.keys.storedKey) == 1
}

// NewCredential makes the stored credential of password for a SCRAM
// mechanism (ScramSHA256 or ScramSHA512), with a fresh random salt, in
// the form a user list takes after "name:".
func NewCredential(mechanism, password string, iterations int) (string, error) {
	var h scramHash
	switch mechanism {
	case ScramSHA256:
		h = sha256Scram
	case ScramSHA512:
		h = sha512Scram
	default:
		return "", fmt.Errorf("%w %q: want %s or %s", ErrUnsupportedMechanism, mechanism, ScramSHA256, ScramSHA512)
	}
	if iterations < minCredentialIterations || iterations > maxCredentialIterations {
		return "", fmt.Errorf("iterations must be %d to %d", minCredentialIterations, maxCredentialIterations)
	}
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	keys, err := deriveKeys(h, password, salt, iterations)
	if err != nil {
		return "", err
	}
	return credential{h: h, keys: keys}.String(), nil
}

// deriveKeys derives the keys SCRAM keeps of password (RFC 5802, 3).
func deriveKeys(h scramHash, password string, salt []byte, iterations int) (*scramKeys, error) {
	salted, err := pbkdf2.Key(h.new, password, salt, iterations, h.new().Size())
	if err != nil {
		return nil, fmt.Errorf("derive %s keys: %w", h.mechanism, err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	return &scramKeys{
		salt:       salt,
		iterations: iterations,
		storedKey:  hashSum(h, clientKey),
		serverKey:  hmacSum(h, salted, []byte("Server Key")),
	}, nil
}
