package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/siestamq/siesta/broker/sasl"
)

// End-to-end tests of SASL authentication (Config.Users) with real
// clients: franz-go, librdkafka (kcat) and sarama.

const (
	saslUser     = "app"
	saslPassword = "s3cret:with,odd=chars"
)

// startSASLBroker starts a broker that only serves authenticated clients.
func startSASLBroker(t *testing.T) *testBroker {
	t.Helper()
	users := sasl.NewUsers(map[string]string{saslUser: saslPassword, "other": "pw2"})
	return startBroker(t, nil, func(c *Config) { c.Users = users })
}

func saslMechanisms(user, pass string) map[string]kgosasl.Mechanism {
	return map[string]kgosasl.Mechanism{
		sasl.Plain:       plain.Auth{User: user, Pass: pass}.AsMechanism(),
		sasl.ScramSHA256: scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(),
		sasl.ScramSHA512: scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(),
	}
}

func TestSASLFranzGo(t *testing.T) {
	b := startSASLBroker(t)
	for name, mech := range saslMechanisms(saslUser, saslPassword) {
		t.Run(name, func(t *testing.T) {
			topic := "sasl-" + strings.ToLower(name)
			ctx := testContext(t, 20*time.Second)
			cl := b.client(t, kgo.SASL(mech), kgo.DefaultProduceTopic(topic))
			for _, v := range []string{"a", "b", "c"} {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			// A consumer group: join, sync, heartbeats and commits all
			// go through authenticated connections.
			recs := consumeN(t, b, topic, 3, kgo.SASL(mech), kgo.ConsumerGroup("g-"+topic))
			if got := string(recs[0].Value) + string(recs[1].Value) + string(recs[2].Value); got != "abc" {
				t.Fatalf("consumed %q, want abc", got)
			}
		})
	}
}

func TestSASLRefusesWrongCredentials(t *testing.T) {
	b := startSASLBroker(t)
	tests := map[string]map[string]kgosasl.Mechanism{
		"wrong password":          saslMechanisms(saslUser, "s3cret"),
		"unknown user":            saslMechanisms("mallory", saslPassword),
		"another user's password": saslMechanisms("other", saslPassword),
	}
	for name, mechs := range tests {
		for mechName, mech := range mechs {
			t.Run(name+"/"+mechName, func(t *testing.T) {
				cl := b.client(t, kgo.SASL(mech), kgo.RequestRetries(0))
				err := cl.Ping(testContext(t, 10*time.Second))
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("ping: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
			})
		}
	}
	if got := metric(t, b.srv, `siesta_failed_authentications_total{kind="sasl"}`); got < 9 {
		t.Errorf("failed SASL exchanges counted: %d, want at least 9", got)
	}
}

// A client that does not authenticate gets ApiVersions, and the
// connection is closed on its first other request, before its body is
// read; a frame larger than an unauthenticated client may send is not
// read either.
func TestSASLUnauthenticatedClientsAreClosed(t *testing.T) {
	b := startSASLBroker(t)
	nc := dialBroker(t, b.addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "test", "1"
	resp := kmsg.NewPtrApiVersionsResponse()
	call(t, nc, av, resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authenticating: code %d", resp.ErrorCode)
	}
	var listsSASL int
	for _, k := range resp.ApiKeys {
		if k.ApiKey == saslHandshakeKey || k.ApiKey == saslAuthenticateKey {
			listsSASL++
		}
	}
	if listsSASL != 2 {
		t.Fatalf("ApiVersions lists %d of SaslHandshake and SaslAuthenticate, want both", listsSASL)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	if _, err := nc.Write(rawRequest(md, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrameBody(nc); !errors.Is(err, io.EOF) {
		t.Fatalf("Metadata before authenticating: got %v, want the connection closed", err)
	}

	// A 1 MiB SaslAuthenticate: within MaxRequestBytes, beyond what an
	// unauthenticated client may send.
	nc = dialBroker(t, b.addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = sasl.Plain
	call(t, nc, hs, kmsg.NewPtrSASLHandshakeResponse())
	big := kmsg.NewPtrSASLAuthenticateRequest()
	big.SetVersion(1)
	big.SASLAuthBytes = make([]byte, 1<<20)
	nc.Write(rawRequest(big, 2)) // the broker may close before reading it all
	if _, err := readFrameBody(nc); err == nil {
		t.Fatal("a 1 MiB frame before authenticating was answered")
	}
}

// Each way of getting a request served before authenticating, its
// frames pipelined in one write ending with a Metadata request: the
// connection closes after the SASL answers listed, and the Metadata is
// answered only after a successful exchange.
func TestSASLGate(t *testing.T) {
	b := startSASLBroker(t)
	handshake := func(version int16, mechanism string) []byte {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.SetVersion(version)
		req.Mechanism = mechanism
		return rawRequest(req, 1)
	}
	authenticate := func(token string) []byte {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(1)
		req.SASLAuthBytes = []byte(token)
		return rawRequest(req, 2)
	}
	bare := func(token string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	metadata := rawRequest(md, 9)
	right, wrong := "\x00"+saslUser+"\x00"+saslPassword, "\x00"+saslUser+"\x00wrong"
	const bareAnswer = -1 // a bare token answering one after a v0 handshake

	tests := []struct {
		name   string
		frames [][]byte
		want   []int16 // the SASL answers' error codes, in order
		served bool    // the Metadata is answered
	}{
		{"handshake", [][]byte{handshake(1, sasl.Plain)}, []int16{0}, false},
		{"SCRAM exchange half done", [][]byte{handshake(1, sasl.ScramSHA256), authenticate("n,,n=" + saslUser + ",r=abcdefgh")}, []int16{0, 0}, false},
		{"wrong password", [][]byte{handshake(1, sasl.Plain), authenticate(wrong)}, []int16{0, kerr.SaslAuthenticationFailed.Code}, false},
		{"wrong password, then another try", [][]byte{handshake(1, sasl.Plain), authenticate(wrong), handshake(1, sasl.Plain), authenticate(right)}, []int16{0, kerr.SaslAuthenticationFailed.Code}, false},
		{"second message to PLAIN", [][]byte{handshake(1, sasl.Plain), authenticate(wrong), authenticate(right)}, []int16{0, kerr.SaslAuthenticationFailed.Code}, false},
		{"SaslAuthenticate without a handshake", [][]byte{authenticate(right)}, []int16{kerr.IllegalSaslState.Code}, false},
		{"second handshake", [][]byte{handshake(1, sasl.Plain), handshake(1, sasl.Plain), authenticate(right)}, []int16{0, kerr.IllegalSaslState.Code}, false},
		{"unsupported mechanism, then another", [][]byte{handshake(1, "GSSAPI"), handshake(1, sasl.Plain), authenticate(right)}, []int16{kerr.UnsupportedSaslMechanism.Code}, false},
		{"v0 handshake, then a request for a token", [][]byte{handshake(0, sasl.Plain)}, []int16{0}, false},
		{"v0 handshake, then SaslAuthenticate for a token", [][]byte{handshake(0, sasl.Plain), authenticate(right)}, []int16{0}, false},
		{"v0 handshake, wrong token", [][]byte{handshake(0, sasl.Plain), bare(wrong)}, []int16{0}, false},
		{"v1 exchange", [][]byte{handshake(1, sasl.Plain), authenticate(right)}, []int16{0, 0}, true},
		{"v0 exchange", [][]byte{handshake(0, sasl.Plain), bare(right)}, []int16{0, bareAnswer}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := dialBroker(t, b.addr)
			if _, err := nc.Write(slices.Concat(append(tt.frames, metadata)...)); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				body, err := readSized(nc)
				switch {
				case err != nil:
					t.Fatalf("answer %d: %v", i, err)
				case want == bareAnswer:
					if len(body) != 0 {
						t.Fatalf("answer %d: %q, want PLAIN's empty bare token", i, body)
					}
				case len(body) < 6:
					t.Fatalf("answer %d: %q is too short", i, body)
				case int16(binary.BigEndian.Uint16(body[4:])) != want:
					t.Fatalf("answer %d: error code %d, want %d", i, int16(binary.BigEndian.Uint16(body[4:])), want)
				}
			}
			body, err := readSized(nc)
			if tt.served {
				if err != nil || len(body) < 4 || binary.BigEndian.Uint32(body) != 9 {
					t.Fatalf("Metadata: %q, %v; want it answered", body, err)
				}
				return
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("after the SASL answers: %q, %v; want the connection closed", body, err)
			}
		})
	}
}

func TestSASLHandshakeErrors(t *testing.T) {
	handshake := func(t *testing.T, addr, mechanism string) (*kmsg.SASLHandshakeResponse, net.Conn) {
		t.Helper()
		nc := dialBroker(t, addr)
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.SetVersion(1)
		req.Mechanism = mechanism
		resp := kmsg.NewPtrSASLHandshakeResponse()
		call(t, nc, req, resp)
		return resp, nc
	}

	t.Run("unsupported mechanism", func(t *testing.T) {
		b := startSASLBroker(t)
		resp, nc := handshake(t, b.addr, "GSSAPI")
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(resp.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
			t.Fatalf("got code %d, mechanisms %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		if _, err := readFrameBody(nc); !errors.Is(err, io.EOF) {
			t.Fatalf("after a refused handshake: %v, want the connection closed", err)
		}
	})
	t.Run("broker without users", func(t *testing.T) {
		b := startBroker(t, nil)
		resp, _ := handshake(t, b.addr, sasl.Plain)
		if resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got code %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		// A client configured for SASL sees the error.
		cl := b.client(t, kgo.SASL(plain.Auth{User: "a", Pass: "b"}.AsMechanism()), kgo.RequestRetries(0))
		if err := cl.Ping(testContext(t, 10*time.Second)); !errors.Is(err, kerr.IllegalSaslState) {
			t.Fatalf("ping: %v, want ILLEGAL_SASL_STATE", err)
		}
	})
}

func TestSASLKcat(t *testing.T) {
	kcatPath(t)
	b := startSASLBroker(t)
	for _, mech := range []string{sasl.Plain, sasl.ScramSHA256, sasl.ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			topic := "kcat-sasl-" + strings.ToLower(mech)
			auth := []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
				"-X", "sasl.username=" + saslUser, "-X", "sasl.password=" + saslPassword}
			kcatRoundTrip(t, b, topic, auth...)
		})
	}
}

// TestSASLKcatStoredCredentials: librdkafka's SCRAM against users given
// stored credentials (sasl.NewCredential), one per mechanism, with a
// non-default iteration count for one.
func TestSASLKcatStoredCredentials(t *testing.T) {
	kcatPath(t)
	cred256, err := sasl.NewCredential(sasl.ScramSHA256, saslPassword, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred512, err := sasl.NewCredential(sasl.ScramSHA512, saslPassword, 10000)
	if err != nil {
		t.Fatal(err)
	}
	users := sasl.NewUsers(map[string]string{"u256": cred256, "u512": cred512})
	b := startBroker(t, nil, func(c *Config) { c.Users = users })
	for user, mech := range map[string]string{"u256": sasl.ScramSHA256, "u512": sasl.ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			topic := "kcat-stored-" + user
			auth := []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
				"-X", "sasl.username=" + user, "-X", "sasl.password=" + saslPassword}
			kcatRoundTrip(t, b, topic, auth...)
		})
	}
}

// sarama speaks both handshakes: v1 with SaslAuthenticate, and v0 after
// which the PLAIN token goes bare.
func TestSASLSarama(t *testing.T) {
	b := startSASLBroker(t)
	for _, handshake := range []int16{sarama.SASLHandshakeV1, sarama.SASLHandshakeV0} {
		config := func(password string) *sarama.Config {
			cfg := saramaConfig(sarama.V3_6_0_0)
			cfg.Net.SASL.Enable = true
			cfg.Net.SASL.Version = handshake
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
			cfg.Net.SASL.User, cfg.Net.SASL.Password = saslUser, password
			cfg.Metadata.Retry.Max = 0
			// sarama sends no ApiVersions with v0, as clients before
			// Kafka 1.0 did.
			cfg.ApiVersionsRequest = handshake == sarama.SASLHandshakeV1
			return cfg
		}
		t.Run(fmt.Sprintf("handshake v%d", handshake), func(t *testing.T) {
			producer := saramaSyncProducer(t, b, config(saslPassword))
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "sarama-sasl", Value: sarama.StringEncoder("v")}); err != nil {
				t.Fatalf("produce: %v", err)
			}
			if cl, err := sarama.NewClient([]string{b.addr}, config("wrong")); err == nil {
				cl.Close()
				t.Fatal("a client with a wrong password connected")
			}
		})
	}
}
