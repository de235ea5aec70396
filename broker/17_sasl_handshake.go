package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/broker/sasl"
)

// SaslHandshake (key 17), v0-1.
//
// With Config.Users set, a connection must authenticate before anything
// but ApiVersions: SaslHandshake names a mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), then SaslAuthenticate requests carry the exchange (v1).
// After a v0 handshake the exchange's messages follow as bare
// size-prefixed tokens instead, without Kafka headers (clients from
// before Kafka 1.0; librdkafka needs v0 listed to use SASL at all). A
// failed v0 exchange is closed without an answer. A second handshake on a
// connection is
// ILLEGAL_SASL_STATE (siesta does not re-authenticate sessions, KIP-368);
// without Config.Users every handshake is, as on a Kafka PLAINTEXT
// listener.

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
	// maxUnauthenticatedFrame bounds the requests of a connection that
	// has not authenticated yet, as Kafka's sasl.server.max.receive.size:
	// a stranger cannot make the broker allocate MaxRequestBytes.
	maxUnauthenticatedFrame = 512 << 10
)

// saslState is a connection's SASL authentication, when the server
// requires one. Only the connection's reading goroutine touches it.
type saslState struct {
	exchange      sasl.Exchange // started by the handshake, nil before
	authenticated bool
	// rawTokens: a v0 handshake started the exchange, so its messages
	// come as bare tokens.
	rawTokens bool
}

// mustAuthenticate reports whether the connection may only send
// ApiVersions, SaslHandshake and SaslAuthenticate for now.
func (c *conn) mustAuthenticate() bool {
	return c.auth != nil && !c.auth.authenticated
}

func (c *conn) handleSASLHandshake(req *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	users := c.s.cfg.Users
	if users == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	}
	resp.SupportedMechanisms = users.Mechanisms()
	if c.auth.authenticated || c.auth.exchange != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	}
	x, err := users.StartFor(req.Mechanism, c.remoteHost)
	if err != nil {
		c.log.Info("SASL handshake refused", "mechanism", req.Mechanism)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp
	}
	c.auth.exchange = x
	c.auth.rawTokens = req.Version == 0
	return resp
}

// readRawToken reads one bare SASL token (after a v0 handshake): a
// 4-byte size, then that many bytes, at most maxUnauthenticatedFrame.
func (c *conn) readRawToken() ([]byte, error) {
	return c.readSized(0, maxUnauthenticatedFrame, "SASL token")
}

// handleRawToken answers one bare token of a v0 exchange; an error closes
// the connection without an answer (after failedAuthenticationDelay), as
// Kafka does.
func (c *conn) handleRawToken(ctx context.Context, token []byte) (reply, error) {
	answer, done, err := c.auth.exchange.Next(token)
	if err != nil {
		c.s.saslFailures.Add(1)
		select {
		case <-time.After(failedAuthenticationDelay):
		case <-ctx.Done():
		}
		return reply{}, fmt.Errorf("SASL authentication failed: %w", err)
	}
	if done {
		c.auth.authenticated, c.auth.rawTokens = true, false
		c.log.Debug("SASL authenticated", "user", c.auth.exchange.User())
	}
	return reply{rawToken: answer}, nil
}
