// Package broker is siesta's Kafka server: it accepts connections, frames
// and decodes requests with kmsg, and answers each API from its own file
// (named by API key, as in 00_produce.go) using the log engine.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siestamq/siesta/broker/group"
	"github.com/siestamq/siesta/broker/sasl"
	"github.com/siestamq/siesta/infra"
	"github.com/siestamq/siesta/objectstore"
)

// Config is what a Server needs. Engine is required; the rest have defaults.
type Config struct {
	Engine *objectstore.Engine
	// Groups coordinates consumer groups; New makes one over Engine's
	// bucket if nil.
	Groups *group.Coordinator
	// Advertise is the host:port clients are told to connect to. Empty
	// means the listener's address.
	Advertise string
	// NodeID is this broker's id in Metadata. Every broker answers for
	// every partition, so ids only need to be stable per process.
	NodeID int32
	// AutoCreateTopics creates unknown topics on Metadata and Produce.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics requests that say -1.
	DefaultPartitions int32
	// MaxRequestBytes refuses larger frames before reading them.
	// Default 100 MiB.
	MaxRequestBytes int32
	// ConnectionMaxIdle closes a connection that sends no request for
	// this long, as Kafka's connections.max.idle.ms does (default 10m).
	// A forgotten client then stops keeping a scale-to-zero broker awake.
	ConnectionMaxIdle time.Duration
	// Users, when set, are the only clients served: every connection
	// authenticates with SASL (PLAIN or SCRAM) before any other request
	// than ApiVersions. Nil serves everyone.
	Users *sasl.Users
	// TLS, when set, makes every connection a TLS one (Kafka's SSL
	// listener; SASL_SSL with Users). The handshake must complete within
	// TLSHandshakeTimeout (default 10s) of the connection.
	TLS                 *tls.Config
	TLSHandshakeTimeout time.Duration
	Logger              *slog.Logger
}

// Server is a Kafka broker serving one engine on any number of listeners.
type Server struct {
	cfg        Config
	log        *slog.Logger
	engine     *objectstore.Engine
	groups     *group.Coordinator
	ownsGroups bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	advertise string
	closing   bool
	wg        sync.WaitGroup

	// inflight counts requests being handled, for idle detection.
	inflight     atomic.Int64
	lastActivity atomic.Int64 // unix nanos
	requests     atomic.Int64
	// Connections refused for their credentials: a failed SASL exchange,
	// a TLS handshake that did not complete (no or a refused client
	// certificate, plaintext, silence).
	saslFailures, tlsFailures atomic.Int64

	// responseBuffers recycles response encoding buffers (*[]byte)
	// across connections, so that a stream of megabyte fetch responses
	// does not allocate and zero a megabyte each. A sync.Pool empties
	// itself over garbage collections, so idle brokers keep nothing.
	responseBuffers sync.Pool
}

// New returns a server; call Serve to accept connections.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("broker: Config.Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.ConnectionMaxIdle <= 0 {
		cfg.ConnectionMaxIdle = 10 * time.Minute
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = 10 * time.Second
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		engine:    cfg.Engine,
		groups:    cfg.Groups,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		advertise: cfg.Advertise,
	}
	if s.groups == nil {
		s.groups = group.New(cfg.Engine.Bucket(), cfg.Logger, group.Options{Topics: s.topicIdentity})
		s.ownsGroups = true
	}
	s.lastActivity.Store(time.Now().UnixNano())
	return s, nil
}

// Serve accepts connections on ln until ctx is cancelled or Close is called.
// It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return errors.New("broker: server closed")
	}
	s.listeners[ln] = struct{}{}
	if s.advertise == "" {
		s.advertise = infra.AdvertiseAddress(ln.Addr(), "")
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			delete(s.listeners, ln)
			s.mu.Unlock()
			if closing || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		if s.cfg.TLS != nil {
			nc = tls.Server(nc, s.cfg.TLS)
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.touch()
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.touch()
		}()
	}
}

// topicIdentity is what the group coordinator needs of a topic.
func (s *Server) topicIdentity(ctx context.Context, name string) (group.Topic, error) {
	t, err := s.engine.Topic(ctx, name)
	return group.Topic{ID: t.ID, Partitions: t.Partitions, CreatedMs: t.CreatedMs}, err
}

// Advertised returns the host and port clients are told to use.
func (s *Server) Advertised() (string, int32) {
	s.mu.Lock()
	adv := s.advertise
	s.mu.Unlock()
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		return adv, 9092
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return host, 9092
	}
	return host, int32(port)
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes every connection and waits for them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.ownsGroups {
		// Wakes JoinGroup and SyncGroup requests waiting on a rebalance,
		// so their connections can drain.
		s.groups.Close()
	}
	for _, c := range conns {
		c.closeWhenIdle()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-done
		err = ctx.Err()
	}
	return err
}

// Activity reports open connections, requests being handled, and when
// either last changed: what the wake package needs to decide idleness.
func (s *Server) Activity() (conns int, inflight int64, last time.Time) {
	s.mu.Lock()
	conns = len(s.conns)
	s.mu.Unlock()
	return conns, s.inflight.Load(), time.Unix(0, s.lastActivity.Load())
}

// WritePrometheus writes the broker's connection and request gauges in
// Prometheus's text format.
func (s *Server) WritePrometheus(w io.Writer) error {
	conns, inflight, _ := s.Activity()
	_, err := fmt.Fprintf(w, "# HELP siesta_connections Open client connections.\n# TYPE siesta_connections gauge\nsiesta_connections %d\n"+
		"# HELP siesta_requests_in_flight Requests being handled.\n# TYPE siesta_requests_in_flight gauge\nsiesta_requests_in_flight %d\n"+
		"# HELP siesta_requests_total Requests handled.\n# TYPE siesta_requests_total counter\nsiesta_requests_total %d\n"+
		"# HELP siesta_failed_authentications_total Connections refused: a failed SASL exchange, or a TLS handshake that did not complete.\n# TYPE siesta_failed_authentications_total counter\n"+
		"siesta_failed_authentications_total{kind=\"sasl\"} %d\nsiesta_failed_authentications_total{kind=\"tls\"} %d\n",
		conns, inflight, s.requests.Load(), s.saslFailures.Load(), s.tlsFailures.Load())
	return err
}

func (s *Server) touch() { s.lastActivity.Store(time.Now().UnixNano()) }
