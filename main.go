// Command siesta is a Kafka-compatible broker that keeps its log in object
// storage. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siestamq/siesta/broker"
	"github.com/siestamq/siesta/infra"
	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/bucketurl"
)

// drainTimeout bounds how long a stopping broker waits for in-flight
// requests.
const drainTimeout = 10 * time.Second

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backup" {
		os.Exit(runBackup(context.Background(), os.Args[2:], os.Stderr))
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Opening a bucket checks its URL and settings without touching the
	// network, so a failure here is a bad value, like a bad flag.
	bucket, err := bucketurl.Open(ctx, cfg.Storage)
	if err != nil {
		fmt.Fprintf(os.Stderr, "siesta: %v\n", err)
		os.Exit(2)
	}
	defer bucket.Close()
	if err := run(ctx, cfg, bucket, logger); err != nil {
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

// run serves until ctx is cancelled, then drains.
func run(ctx context.Context, cfg infra.Config, bucket objectstore.Bucket, logger *slog.Logger) error {
	counted := objectstore.NewCountingBucket(bucket)
	engine := objectstore.New(counted, objectstore.Options{
		Linger:      cfg.LingerDuration(),
		TailRefresh: cfg.TailRefresh,
		CacheBytes:  cfg.CacheBytes,
		Logger:      logger,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv, err := broker.New(broker.Config{
		Advertise:         infra.AdvertiseAddress(ln.Addr(), cfg.Advertise),
		Engine:            engine,
		NodeID:            int32(cfg.NodeID),
		AutoCreateTopics:  cfg.AutoCreateTopics,
		DefaultPartitions: int32(cfg.DefaultPartitions),
		MaxRequestBytes:   int32(cfg.MaxRequestBytes),
		Logger:            logger,
	})
	if err != nil {
		ln.Close()
		return err
	}
	logger.Info("siesta serving", "listen", ln.Addr().String(), "advertise", infra.AdvertiseAddress(ln.Addr(), cfg.Advertise), "storage", cfg.Storage)

	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, logger, counted.WritePrometheus, srv.WritePrometheus)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, ln) }()
	select {
	case err := <-serveErr:
		if err != nil {
			return err
		}
	case <-ctx.Done():
	}
	logger.Info("draining")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		return fmt.Errorf("drain: %w", err)
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
