package sasl

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scramIterations is the PBKDF2 iteration count of the keys derived from
// each password: RFC 7677's minimum, and Kafka's default.
const scramIterations = 4096

// scramHash is one SCRAM mechanism's hash function.
type scramHash struct {
	mechanism string
	new       func() hash.Hash
}

var (
	sha256Scram = scramHash{ScramSHA256, sha256.New}
	sha512Scram = scramHash{ScramSHA512, sha512.New}
)

type scramKeyID struct{ user, mechanism string }

// scramKeys is what a SCRAM server keeps of a password (RFC 5802, 3).
type scramKeys struct {
	salt       []byte
	iterations int
	storedKey  []byte
	serverKey  []byte
}

// keys returns user's keys for h. The first exchange with h derives
// every user's keys at once, whatever name it gives: deriving a user's
// keys on that user's first exchange would make it milliseconds slower
// than an unknown name's, which tells that the user exists. A user that
// does not exist gets keys nobody can match, with a salt as stable as a
// real user's, so that the exchange does not say which names exist.
func (u *Users) keys(h scramHash, user string) (keys *scramKeys, known bool, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.derived[h.mechanism] {
		for name, password := range u.passwords {
			k, err := deriveScramKeys(h, password, u.iterations(h))
			if err != nil {
				return nil, false, err
			}
			u.scram[scramKeyID{name, h.mechanism}] = k
		}
		u.derived[h.mechanism] = true
	}
	// Made for known names too, so that both cost the same.
	fake := u.fakeKeys(h, user)
	if k, ok := u.scram[scramKeyID{user, h.mechanism}]; ok {
		return k, true, nil
	}
	return fake, false, nil
}

// fakeKeys returns the keys of a user that does not exist. They are not
// cached (unknown names are chosen by clients), and a fresh random salt
// each time would give the name away, so the salt comes from a
// per-process secret instead.
func (u *Users) fakeKeys(h scramHash, user string) *scramKeys {
	mac := hmac.New(sha256.New, u.fakeSalt)
	mac.Write([]byte(h.mechanism + "\x00" + user))
	size := h.new().Size()
	return &scramKeys{salt: mac.Sum(nil)[:16], iterations: u.iterations(h), storedKey: make([]byte, size), serverKey: make([]byte, size)}
}

// iterations is the PBKDF2 iteration count of h's keys: that of the
// stored credentials for h, so that every name's exchange shows the same
// count, or RFC 7677's minimum (Kafka's default) if there are none.
func (u *Users) iterations(h scramHash) int {
	if n, ok := u.credentialIterations[h.mechanism]; ok {
		return n
	}
	return scramIterations
}

// deriveScramKeys derives the keys SCRAM keeps of password, with a fresh
// random salt.
func deriveScramKeys(h scramHash, password string, iterations int) (*scramKeys, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	return deriveKeys(h, password, salt, iterations)
}

func hmacSum(h scramHash, key, msg []byte) []byte {
	mac := hmac.New(h.new, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

func hashSum(h scramHash, msg []byte) []byte {
	d := h.new()
	d.Write(msg)
	return d.Sum(nil)
}

// scramExchange is the server side of SCRAM without channel binding:
// client-first, server-first, client-final, server-final.
type scramExchange struct {
	users *Users
	h     scramHash
	step  int

	user            string
	known           bool
	keys            *scramKeys
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
}

func newScramExchange(u *Users, h scramHash) *scramExchange {
	return &scramExchange{users: u, h: h}
}

func (x *scramExchange) fail(format string, args ...any) ([]byte, bool, error) {
	x.step = -1
	return nil, false, fmt.Errorf("%w: "+format+" (%s)", append([]any{ErrAuthenticationFailed}, append(args, x.h.mechanism)...)...)
}

func (x *scramExchange) Next(msg []byte) ([]byte, bool, error) {
	switch x.step {
	case 0:
		return x.clientFirst(string(msg))
	case 1:
		return x.clientFinal(string(msg))
	}
	return x.fail("the exchange is over")
}

// clientFirst reads "gs2-cbind-flag,[a=authzid],n=user,r=nonce[,ext...]"
// and answers "r=nonce,s=salt,i=iterations".
func (x *scramExchange) clientFirst(msg string) ([]byte, bool, error) {
	flag, rest, ok1 := strings.Cut(msg, ",")
	authzid, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return x.fail("malformed client-first message")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return x.fail("channel binding is not supported")
	default:
		return x.fail("malformed client-first message")
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return x.fail("malformed client-first message")
	}
	user, err := decodeSaslName(attrs[0][2:])
	if err != nil || user == "" {
		return x.fail("malformed user name")
	}
	if authzid != "" {
		az, err := decodeSaslName(strings.TrimPrefix(authzid, "a="))
		if !strings.HasPrefix(authzid, "a=") || err != nil {
			return x.fail("malformed authorization id")
		}
		if az != user {
			return x.fail("authorization id %q differs from the user name", az)
		}
	}
	clientNonce := attrs[1][2:]
	if !printableNonce(clientNonce) {
		return x.fail("malformed nonce")
	}
	for _, ext := range attrs[2:] {
		key, _, isAttr := strings.Cut(ext, "=")
		switch {
		case !isAttr || key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
			return x.fail("malformed extension %q", ext)
		case key == "m":
			return x.fail("mandatory extension %q is not supported", ext)
		case ext == "tokenauth=true":
			return x.fail("delegation tokens are not supported")
		}
	}
	keys, known, err := x.users.keys(x.h, user)
	if err != nil {
		return nil, false, err
	}
	serverNonce := make([]byte, 18)
	rand.Read(serverNonce)
	x.user, x.known, x.keys = user, known, keys
	x.gs2Header = flag + "," + authzid + ","
	x.clientFirstBare = bare
	x.nonce = clientNonce + base64.StdEncoding.EncodeToString(serverNonce)
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(keys.salt) + ",i=" + strconv.Itoa(keys.iterations)
	x.step = 1
	return []byte(x.serverFirst), false, nil
}

// clientFinal reads "c=channel-binding,r=nonce[,ext...],p=proof", checks
// the proof and answers "v=server-signature".
func (x *scramExchange) clientFinal(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return x.fail("malformed client-final message")
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return x.fail("malformed proof")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(x.gs2Header)) {
		return x.fail("channel binding differs from the client-first message")
	}
	// Kafka accepts a final nonce that ends with the server's rather than
	// equals it, and librdkafka relies on that: it sends its own nonce
	// again in front of the server's (which starts with it). The proof
	// covers the message as sent either way.
	if r, ok := strings.CutPrefix(attrs[1], "r="); !ok || !strings.HasSuffix(r, x.nonce) {
		return x.fail("nonce differs from the server's")
	}
	authMessage := []byte(x.clientFirstBare + "," + x.serverFirst + "," + withoutProof)
	signature := hmacSum(x.h, x.keys.storedKey, authMessage)
	if len(proof) != len(signature) {
		return x.fail("invalid user name or password")
	}
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, signature)
	if subtle.ConstantTimeCompare(hashSum(x.h, clientKey), x.keys.storedKey) != 1 || !x.known {
		return x.fail("invalid user name or password")
	}
	x.step = 2
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSum(x.h, x.keys.serverKey, authMessage))), true, nil
}

func (x *scramExchange) User() string {
	if x.step != 2 {
		return ""
	}
	return x.user
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("bad escape in %q", s)
		}
		i += 2
	}
	return b.String(), nil
}

// printableNonce reports whether s is a valid SCRAM nonce: printable
// ASCII without ','.
func printableNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}
