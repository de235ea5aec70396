package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/siestamq/siesta/objectstore/bucketurl"
)

// backuper is a bucket that can copy itself consistently while in use
// (the SQLite bucket, through VACUUM INTO).
type backuper interface {
	Backup(ctx context.Context, dst string) error
}

// runBackup is `siesta backup --to FILE`: a consistent copy of the storage
// while brokers keep using it. It returns the process exit code.
func runBackup(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("siesta backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storage := fs.String("storage", envOr("SIESTA_STORAGE", "memory://"), "storage URL to back up (SIESTA_STORAGE)")
	to := fs.String("to", "", "file to write the copy to; must not exist")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "Usage: siesta backup [--storage sqlite:///PATH.db] --to FILE")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "siesta backup: %v\n", err)
		return 2
	}
	if *to == "" {
		fmt.Fprintln(stderr, "siesta backup: --to FILE is required")
		return 2
	}
	bucket, err := bucketurl.Open(ctx, *storage)
	if err != nil {
		fmt.Fprintf(stderr, "siesta backup: %v\n", err)
		return 2
	}
	defer bucket.Close()
	b, ok := bucket.(backuper)
	if !ok {
		fmt.Fprintf(stderr, "siesta backup: only sqlite:// storage can be backed up this way; use the object store's own versioning or replication\n")
		return 2
	}
	if err := b.Backup(ctx, *to); err != nil {
		fmt.Fprintf(stderr, "siesta backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "siesta backup: wrote %s\n", *to)
	return 0
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
