package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate (key 36), v0-2.
//
// Carries one message of the exchange SaslHandshake started and its
// answer. A failed exchange is answered SASL_AUTHENTICATION_FAILED with a
// message that never says whether the user exists, and the connection is
// closed after the answer, as Kafka does, and as Kafka the answer waits
// failedAuthenticationDelay first, so that guessing passwords costs a
// client a connection and 100 ms per guess. v1 adds SessionLifetimeMillis,
// always 0 here: sessions do not expire (no KIP-368 re-authentication).
// v2 is the flexible version.

// failedAuthenticationDelay is Kafka's connection.failed.authentication.delay.ms
// default.
const failedAuthenticationDelay = 100 * time.Millisecond

func (c *conn) handleSASLAuthenticate(ctx context.Context, req *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.auth == nil || c.auth.authenticated || c.auth.exchange == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake before it"
		if c.auth == nil {
			msg = "this broker does not authenticate clients"
		} else if c.auth.authenticated {
			msg = "this connection is authenticated already"
		}
		resp.ErrorMessage = &msg
		return resp
	}
	answer, done, err := c.auth.exchange.Next(req.SASLAuthBytes)
	if err != nil {
		c.log.Info("SASL authentication failed", "err", err)
		c.s.saslFailures.Add(1)
		c.auth.exchange = nil
		select {
		case <-time.After(failedAuthenticationDelay):
		case <-ctx.Done():
		}
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = errorMessage(err)
		return resp
	}
	resp.SASLAuthBytes = answer
	if done {
		c.auth.authenticated = true
		c.log.Debug("SASL authenticated", "user", c.auth.exchange.User())
	}
	return resp
}

// closesConnection reports whether resp ends its connection: a SASL
// error on a connection that has not authenticated (a failed
// authentication, a mechanism the broker does not offer).
func (c *conn) closesConnection(resp kmsg.Response) bool {
	if !c.mustAuthenticate() {
		return false
	}
	switch r := resp.(type) {
	case *kmsg.SASLHandshakeResponse:
		return r.ErrorCode != 0
	case *kmsg.SASLAuthenticateResponse:
		return r.ErrorCode != 0
	}
	return false
}
