package sqlite

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Synchronous is SQLite's synchronous setting for the bucket's writes: how
// far a commit goes towards the disk before the write returns.
type Synchronous string

const (
	// SyncFull fsyncs the write-ahead log on every commit: a write that
	// returned survives a crash of the process, of the operating system,
	// and a power loss. The default.
	SyncFull Synchronous = "full"

	// SyncNormal leaves commits in the operating system's page cache and
	// fsyncs only at checkpoints: a write that returned survives a crash
	// (or SIGKILL) of the process, but the last writes before an operating
	// system crash or power loss may be lost. The database stays consistent
	// either way.
	SyncNormal Synchronous = "normal"
)

// DefaultBusyTimeout is how long a write waits, by default, for another
// process holding the database's write lock.
const DefaultBusyTimeout = 5 * time.Second

// Options tunes an opened database. The zero value is the default.
type Options struct {
	// Synchronous is SyncFull (the default when empty) or SyncNormal.
	Synchronous Synchronous

	// BusyTimeout bounds the wait for another process's write lock (or,
	// rarely, its checkpoint); 0 means DefaultBusyTimeout. Writes from one
	// Bucket queue in-process and do not count against it.
	BusyTimeout time.Duration
}

// withDefaults fills in the defaults and rejects values Open cannot use.
func (o Options) withDefaults() (Options, error) {
	switch o.Synchronous {
	case "":
		o.Synchronous = SyncFull
	case SyncFull, SyncNormal:
	default:
		return o, fmt.Errorf("synchronous %q: want %s or %s", o.Synchronous, SyncFull, SyncNormal)
	}
	switch {
	case o.BusyTimeout == 0:
		o.BusyTimeout = DefaultBusyTimeout
	case o.BusyTimeout < time.Millisecond:
		return o, fmt.Errorf("busy timeout %v: want at least 1ms", o.BusyTimeout)
	}
	return o, nil
}

// ParseURL reads a storage URL naming a database file:
//
//	sqlite:///ABSOLUTE/PATH.db?synchronous=full|normal&busy_timeout=5s
//	sqlite:RELATIVE/PATH.db    (relative to the working directory)
//
// Every query parameter is optional; unknown ones are errors, so that a typo
// does not silently fall back to a default. A URL with a host
// (sqlite://name.db) is rejected rather than guessed at: it reads as a
// relative path to some and as a host to others.
func ParseURL(rawURL string) (path string, opts Options, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", Options{}, err
	}
	if u.Scheme != "sqlite" {
		return "", Options{}, fmt.Errorf("scheme is %q, want sqlite", u.Scheme)
	}
	switch {
	case u.Opaque != "": // sqlite:relative/path.db
		path, err = url.PathUnescape(u.Opaque)
		if err != nil {
			return "", Options{}, fmt.Errorf("path %q: %w", u.Opaque, err)
		}
	case u.Host != "" || u.User != nil:
		return "", Options{}, fmt.Errorf("sqlite://%s%s has a host; write sqlite:///ABSOLUTE/PATH or sqlite:RELATIVE/PATH", u.Host, u.Path)
	default: // sqlite:///absolute/path.db
		path = u.Path
	}
	if path == "" || strings.HasSuffix(path, "/") {
		return "", Options{}, fmt.Errorf("no database file: want sqlite:///ABSOLUTE/PATH.db or sqlite:RELATIVE/PATH.db")
	}
	for name, values := range u.Query() {
		v := values[len(values)-1]
		switch name {
		case "synchronous":
			opts.Synchronous = Synchronous(strings.ToLower(v))
		case "busy_timeout":
			opts.BusyTimeout, err = time.ParseDuration(v)
			if err != nil || opts.BusyTimeout <= 0 {
				return "", Options{}, fmt.Errorf("busy_timeout %q: want a positive duration such as 5s", v)
			}
		default:
			return "", Options{}, fmt.Errorf("unknown parameter %q (known: synchronous, busy_timeout)", name)
		}
	}
	if _, err := opts.withDefaults(); err != nil {
		return "", Options{}, err
	}
	return path, opts, nil
}
