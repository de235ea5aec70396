package sqlite

import (
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		path string
		opts Options
	}{
		{"sqlite:///var/lib/siesta/siesta.db", "/var/lib/siesta/siesta.db", Options{}},
		{"sqlite:siesta.db", "siesta.db", Options{}},
		{"sqlite:data/siesta.db", "data/siesta.db", Options{}},
		{"sqlite:///data/my%20log.db", "/data/my log.db", Options{}},
		{"sqlite:///s.db?synchronous=normal", "/s.db", Options{Synchronous: SyncNormal}},
		{"sqlite:///s.db?synchronous=FULL", "/s.db", Options{Synchronous: SyncFull}},
		{"sqlite:s.db?busy_timeout=30s", "s.db", Options{BusyTimeout: 30 * time.Second}},
	}
	for _, tt := range tests {
		path, opts, err := ParseURL(tt.url)
		if err != nil || path != tt.path || opts != tt.opts {
			t.Errorf("ParseURL(%q) = %q, %+v, %v; want %q, %+v", tt.url, path, opts, err, tt.path, tt.opts)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, url := range []string{
		"sqlite://siesta.db", // a host, not a path
		"sqlite://host/siesta.db",
		"sqlite://",
		"sqlite:",
		"sqlite:///",
		"sqlite:///data/",
		"sqlite:///s.db?synchronous=off",
		"sqlite:///s.db?busy_timeout=5",
		"sqlite:///s.db?busy_timeout=-1s",
		"sqlite:///s.db?journal_mode=delete",
		"s3://bucket",
	} {
		if path, opts, err := ParseURL(url); err == nil {
			t.Errorf("ParseURL(%q) = %q, %+v; want an error", url, path, opts)
		}
	}
}
