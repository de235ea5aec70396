// Command siesta is a Kafka-compatible broker that keeps its log in object
// storage. See README.md.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/siestamq/siesta/broker"
	"github.com/siestamq/siesta/broker/sasl"
	"github.com/siestamq/siesta/infra"
	"github.com/siestamq/siesta/infra/tlsfiles"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/bucketurl"
	"github.com/siestamq/siesta/wake"
)

// drainTimeout bounds how long a stopping broker waits for in-flight
// requests.
const drainTimeout = 10 * time.Second

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "backup":
			os.Exit(runBackup(context.Background(), os.Args[2:], os.Stderr))
		case "scram-credential":
			os.Exit(runScramCredential(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
		}
	}
	cfg, err := infra.Load(os.Args[1:], os.Environ(), os.Stdout)
	if errors.Is(err, infra.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "siesta: %v\n", err)
		os.Exit(2)
	}
	logger := newLogger(cfg, os.Stderr)
	ctx := context.Background()
	// Opening a bucket checks its URL and settings without touching the
	// network, so a failure here is a bad value, like a bad flag.
	bucket, err := bucketurl.Open(ctx, cfg.Storage)
	if err != nil {
		fmt.Fprintf(os.Stderr, "siesta: %v\n", err)
		os.Exit(2)
	}
	defer bucket.Close()
	var certs *tlsfiles.Server
	if cfg.TLSCert != "" {
		certs, err = tlsfiles.Load(tlsfiles.Paths{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.TLSClientCA}, logger)
		if err != nil {
			fmt.Fprintf(os.Stderr, "siesta: %v\n", err)
			bucket.Close()
			os.Exit(2)
		}
	}
	if err := run(ctx, cfg, infra.DetectPlatform(os.Environ()), bucket, certs, logger); err != nil {
		logger.Error("siesta stopped", "err", err)
		bucket.Close()
		os.Exit(1)
	}
}

func newLogger(cfg infra.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by infra.Load
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run serves until ctx is cancelled, SIGINT or SIGTERM arrives or, with an
// idle timeout, until no client has been connected for that long; then it
// drains. With certs, clients connect with TLS.
func run(ctx context.Context, cfg infra.Config, platform infra.Platform, bucket objectstore.Bucket, certs *tlsfiles.Server, logger *slog.Logger) error {
	counted := objectstore.NewCountingBucket(bucket)
	engine := objectstore.New(counted, objectstore.Options{
		Linger:      cfg.LingerDuration(),
		TailRefresh: cfg.TailRefresh,
		CacheBytes:  cfg.CacheBytes,
		Logger:      logger,
	})
	// Under systemd (or systemd-socket-activate) the socket is inherited
	// and outlives this process: connections made while no broker runs
	// wait in its backlog.
	ln, activated, err := wake.Listener(cfg.Listen)
	if err != nil {
		return err
	}
	advertise := cfg.Advertise
	if advertise == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		advertise = platform.DefaultAdvertise(port, cfg.FlyAdvertise)
	}
	advertise = infra.AdvertiseAddress(ln.Addr(), advertise)
	var users *sasl.Users
	if cfg.SASLUsers != "" {
		passwords, err := sasl.ParseUsers(cfg.SASLUsers) // validated by infra.Load
		if err != nil {
			ln.Close()
			return fmt.Errorf("SIESTA_SASL_USERS: %w", err)
		}
		users = sasl.NewUsers(passwords)
	}
	var tlsConfig *tls.Config
	if certs != nil {
		tlsConfig = certs.Config()
	}
	srv, err := broker.New(broker.Config{
		Advertise:         advertise,
		Engine:            engine,
		NodeID:            int32(cfg.NodeID),
		AutoCreateTopics:  cfg.AutoCreateTopics,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		MaxRequestBytes:   int32(cfg.MaxRequestBytes),
		Users:             users,
		TLS:               tlsConfig,
		Logger:            logger,
	})
	if err != nil {
		ln.Close()
		return err
	}
	attrs := []any{"listen", ln.Addr().String(), "socket_activated", activated, "advertise", advertise, "storage", cfg.Storage, "idle_timeout", cfg.IdleTimeout}
	if users != nil {
		attrs = append(attrs, "sasl_users", users.Names())
	}
	if certs != nil {
		leaf := certs.Leaf()
		attrs = append(attrs, "tls_subject", leaf.Subject.String(), "tls_not_after", leaf.NotAfter, "tls_client_certificates", cfg.TLSClientCA != "")
	}
	if platform.Name != "" {
		attrs = append(attrs, "platform", platform.Name, "app", platform.App, "machine", platform.MachineID, "region", platform.Region)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, ln) }()
	// Everything that is not needed to answer the first request comes
	// after Serve starts: a woken broker's first answer waits for nothing
	// else. Catching signals costs a few hundred microseconds of a cold
	// start; one that arrives before ends the process without a drain,
	// which loses nothing acknowledged (acknowledged records are in the
	// bucket).
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if limit, source, ok := infra.MemoryLimit(os.DirFS("/")); ok {
			debug.SetMemoryLimit(limit)
			attrs = append(attrs, "memory_limit", limit, "memory_limit_from", source)
		}
	}
	logger.Info("siesta serving", attrs...)

	if cfg.MetricsListen != "" {
		writers := []func(io.Writer) error{counted.WritePrometheus, srv.WritePrometheus}
		if own, ok := bucket.(interface{ WritePrometheus(io.Writer) error }); ok {
			writers = append(writers, own.WritePrometheus) // the S3 bucket's HTTP requests
		}
		stopMetrics, err := serveMetrics(cfg.MetricsListen, logger, writers...)
		if err != nil {
			drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			_ = srv.Shutdown(drainCtx)
			cancel()
			return err
		}
		defer stopMetrics()
	}
	// idle is closed when the broker has had no connection and no request
	// for cfg.IdleTimeout (never when it is 0).
	idle := make(chan struct{})
	idleCtx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	go func() {
		if wake.WaitIdle(idleCtx, srv, cfg.IdleTimeout, 0) == nil {
			close(idle)
		}
	}()
	select {
	case err := <-serveErr:
		if err != nil {
			return err
		}
	case <-ctx.Done():
	case <-idle:
		logger.Info("idle, stopping", "idle_timeout", cfg.IdleTimeout)
	}
	logger.Info("draining")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if err := engine.Drain(drainCtx); err != nil {
		logger.Warn("drain: time index", "err", err)
	}
	engine.Close()
	logger.Info("stopped")
	return nil
}

// serveMetrics serves Prometheus text-format metrics on addr until the
// returned stop function is called.
func serveMetrics(addr string, logger *slog.Logger, writers ...func(io.Writer) error) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		for _, write := range writers {
			if err := write(w); err != nil {
				return
			}
		}
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics server stopped", "err", err)
		}
	}()
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return func() { hs.Close() }, nil
}
