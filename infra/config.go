// Package infra turns the process's flags and environment into siesta's
// configuration, and knows the platforms siesta runs on.
package infra

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/siestamq/siesta/broker/sasl"
	"github.com/siestamq/siesta/infra/tlsfiles"
)

// Config is everything a siesta process is told at start. Each field is
// set by an environment variable and can be overridden by the flag of the
// same name (flags win).
type Config struct {
	Listen            string        `env:"SIESTA_LISTEN" envDefault:":9092"`
	Storage           string        `env:"SIESTA_STORAGE" envDefault:"memory://"`
	Advertise         string        `env:"SIESTA_ADVERTISE"`
	AutoCreateTopics  bool          `env:"SIESTA_AUTO_CREATE_TOPICS" envDefault:"true"`
	DefaultPartitions int           `env:"SIESTA_DEFAULT_PARTITIONS" envDefault:"1"`
	MaxRequestBytes   int           `env:"SIESTA_MAX_REQUEST_BYTES" envDefault:"104857600"`
	NodeID            int           `env:"SIESTA_NODE_ID" envDefault:"0"`
	Linger            string        `env:"SIESTA_LINGER" envDefault:"auto"`
	MetricsListen     string        `env:"SIESTA_METRICS_LISTEN"`
	TailRefresh       time.Duration `env:"SIESTA_TAIL_REFRESH" envDefault:"1s"`
	CacheBytes        int64         `env:"SIESTA_CACHE_BYTES" envDefault:"67108864"`
	LogFormat         string        `env:"SIESTA_LOG_FORMAT" envDefault:"text"`
	LogLevel          string        `env:"SIESTA_LOG_LEVEL" envDefault:"info"`
	IdleTimeout       time.Duration `env:"SIESTA_IDLE_TIMEOUT" envDefault:"0s"`
	FlyAdvertise      string        `env:"SIESTA_FLY_ADVERTISE" envDefault:"public"`
	TLSCert           string        `env:"SIESTA_TLS_CERT"`
	TLSKey            string        `env:"SIESTA_TLS_KEY"`
	TLSClientCA       string        `env:"SIESTA_TLS_CLIENT_CA"`
	// SASLUsers ("name:password,...") makes every client authenticate.
	// It has no flag: a command line is visible to every user of the
	// machine.
	SASLUsers string `env:"SIESTA_SASL_USERS"`
}

// ErrHelp is returned by Load when the user asked for --help.
var ErrHelp = flag.ErrHelp

// Load reads the configuration from environ (KEY=VALUE strings, as from
// os.Environ) and then args (without the program name). Usage and help go
// to out.
func Load(args, environ []string, out io.Writer) (Config, error) {
	var cfg Config
	envMap := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: envMap}); err != nil {
		return cfg, envError(err, envMap)
	}

	fs := flag.NewFlagSet("siesta", flag.ContinueOnError)
	// Parse errors come back as one line for the caller to print; only
	// --help prints the usage.
	fs.SetOutput(io.Discard)
	usage := func() {
		fmt.Fprintf(out, "siesta: a Kafka-compatible broker that keeps its log in object storage.\n\nUsage: siesta [flags]\n\nEvery flag can also be set by the environment variable shown; the flag wins.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			def := fmt.Sprintf("%q", f.DefValue)
			switch {
			case f.Name == "tls-key" && f.DefValue != "" || tlsfiles.IsInline(f.DefValue):
				def = "set in the environment" // perhaps a private key: never printed
			}
			fmt.Fprintf(out, "  --%s (%s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
		})
		fmt.Fprintf(out, "  SIESTA_SASL_USERS (no flag, default none)\n      users clients must authenticate as with SASL PLAIN or SCRAM-SHA-256/512: name:password,... or name:CREDENTIAL from siesta scram-credential (none: no authentication)\n")
	}
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to accept Kafka clients on")
	fs.StringVar(&cfg.Storage, "storage", cfg.Storage, "storage URL: memory://")
	fs.StringVar(&cfg.Advertise, "advertise", cfg.Advertise, "host:port returned to clients in Metadata (default: the listen address, localhost:PORT when listening on all interfaces)")
	fs.BoolVar(&cfg.AutoCreateTopics, "auto-create-topics", cfg.AutoCreateTopics, "create unknown topics on first use")
	fs.IntVar(&cfg.DefaultPartitions, "default-partitions", cfg.DefaultPartitions, "partitions of auto-created topics")
	fs.IntVar(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "largest request frame accepted; larger ones close the connection")
	fs.IntVar(&cfg.NodeID, "node-id", cfg.NodeID, "broker id reported in Metadata")
	fs.StringVar(&cfg.Linger, "linger", cfg.Linger, "how long appends to one partition wait to share one object: a duration, or auto (5ms on s3://, 0 elsewhere)")
	fs.DurationVar(&cfg.TailRefresh, "tail-refresh", cfg.TailRefresh, "how often a consumer waiting at a partition's end checks storage for other brokers' writes")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "address to serve Prometheus /metrics on (default: off)")
	fs.Int64Var(&cfg.CacheBytes, "cache-bytes", cfg.CacheBytes, "bound on the in-memory cache of stored batches")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "exit 0 after this long with no client connected (0: never)")
	fs.StringVar(&cfg.FlyAdvertise, "fly-advertise", cfg.FlyAdvertise, "on Fly.io without --advertise, the address clients are told: public (APP.fly.dev), flycast (APP.flycast) or internal (APP.internal)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM file of the certificate chain (leaf first), or in the environment the PEM itself: clients must connect with TLS (default: plaintext)")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM file of the private key of --tls-cert, or in the environment the PEM itself")
	fs.StringVar(&cfg.TLSClientCA, "tls-client-ca", cfg.TLSClientCA, "PEM CA certificates: clients must present a certificate signed by one (default: none asked)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, cfg.validate()
}

// envError names the variable behind a parse failure; the env library
// names only the struct field.
func envError(err error, envMap map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("environment: %w", err)
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name); ok {
				name := f.Tag.Get("env")
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, envMap[name], pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// LingerDuration is the linger to use. "auto" lingers a few milliseconds
// where each write is a billed, slow object PUT (s3://), so that concurrent
// producers share objects, and not at all elsewhere, where it would only
// add latency.
func (c Config) LingerDuration() time.Duration {
	if c.Linger == "auto" {
		if strings.HasPrefix(c.Storage, "s3:") {
			return 5 * time.Millisecond
		}
		return 0
	}
	d, _ := time.ParseDuration(c.Linger) // validated by Load
	return d
}

func envName(flagName string) string {
	return "SIESTA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: want host:port", c.Listen))
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertise address %q: want host:port", c.Advertise))
		}
	}
	if c.DefaultPartitions < 1 || c.DefaultPartitions > 10000 {
		errs = append(errs, fmt.Errorf("default partitions %d: want 1 to 10000", c.DefaultPartitions))
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max request bytes %d: want 1 KiB to 1 GiB", c.MaxRequestBytes))
	}
	if c.NodeID < 0 || c.NodeID > 1<<30 {
		errs = append(errs, fmt.Errorf("node id %d: want 0 to 2^30", c.NodeID))
	}
	if c.Linger != "auto" {
		d, err := time.ParseDuration(c.Linger)
		if err != nil || d < 0 || d > time.Second {
			errs = append(errs, fmt.Errorf("linger %q: want auto or a duration from 0 to 1s", c.Linger))
		}
	}
	if c.TailRefresh < 10*time.Millisecond || c.TailRefresh > time.Minute {
		errs = append(errs, fmt.Errorf("tail refresh %s: want 10ms to 1m", c.TailRefresh))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics listen address %q: want host:port", c.MetricsListen))
		}
	}
	if c.CacheBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("cache bytes %d: want at least 1 MiB", c.CacheBytes))
	}
	if c.IdleTimeout != 0 && c.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("idle timeout %s: want 0 (never) or at least 1s", c.IdleTimeout))
	}
	if !slices.Contains(AdvertiseModes, c.FlyAdvertise) {
		errs = append(errs, fmt.Errorf("fly advertise %q: want one of %s", c.FlyAdvertise, strings.Join(AdvertiseModes, ", ")))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls: set both a certificate (SIESTA_TLS_CERT) and its key (SIESTA_TLS_KEY), or neither"))
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("tls: a client CA (SIESTA_TLS_CLIENT_CA) needs a certificate and key to serve TLS with"))
	}
	if c.SASLUsers != "" {
		if _, err := sasl.ParseUsers(c.SASLUsers); err != nil {
			errs = append(errs, fmt.Errorf("SIESTA_SASL_USERS: %w", err))
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}
