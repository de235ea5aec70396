package sasl

import (
	"errors"
	"testing"
)

// FuzzExchange feeds two arbitrary client messages to each mechanism: an
// exchange must never panic, and never authenticate without the password.
func FuzzExchange(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"), []byte(""))
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abcXYZ,p=AAAA"))
	f.Add([]byte("n,a=alice,n=alice,r=abc,ext=1"), []byte("c=bixhPWFsaWNlLA==,r=abc,x=1,p=dGVzdA=="))
	f.Add([]byte("p=tls-unique,,n=a=2C=3D,r=!"), []byte(",p="))
	users := NewUsers(map[string]string{"alice": "pw", "a,=": "pw"})
	f.Fuzz(func(t *testing.T, first, final []byte) {
		for _, mechanism := range users.Mechanisms() {
			x, err := users.Start(mechanism)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range [][]byte{first, final} {
				_, done, err := x.Next(msg)
				if err != nil {
					if !errors.Is(err, ErrAuthenticationFailed) {
						t.Fatalf("%s: error %v is not ErrAuthenticationFailed", mechanism, err)
					}
					break
				}
				// Only PLAIN can succeed from fuzzed bytes (the
				// password is in the message); SCRAM would need
				// a proof from the password and the server's
				// nonce.
				if done && (mechanism != Plain || x.User() == "") {
					t.Fatalf("%s authenticated %q from %q, %q", mechanism, x.User(), first, final)
				}
			}
		}
	})
}
