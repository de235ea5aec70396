package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to the new file dst while
// the bucket goes on serving reads and writes (SQLite's VACUUM INTO, in one
// read transaction: the copy holds exactly the writes committed when it
// began). dst must not exist; its directory must. The copy is compacted,
// fsynced, and opens with Open like any database file.
//
// Never copy the live file with cp: the newest writes may be in the -wal
// file, and a copy taken mid-checkpoint is torn.
func (b *Bucket) Backup(ctx context.Context, dst string) error {
	if err := b.ready(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	dst, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	// Claim dst first, so that a file appearing meanwhile is neither
	// overwritten nor, on failure, removed: VACUUM INTO accepts an empty
	// file.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := b.vacuumInto(ctx, dst); err != nil {
		os.Remove(dst)
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := syncFile(dst); err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	if err := syncFile(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("backup %s: %w", dst, err)
	}
	return nil
}

// syncFile fsyncs a file or directory. VACUUM INTO syncs with the source
// database's synchronous setting; this makes the copy durable whatever it is.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// vacuumInto copies the database to dst on a connection of its own: the
// readers are query_only, which VACUUM INTO refuses, and on the writer the
// copy would hold up every write. The copy is a read, so writes go on.
func (b *Bucket) vacuumInto(ctx context.Context, dst string) error {
	db, err := sql.Open("sqlite", dsn(b.path, b.opts, ""))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}
