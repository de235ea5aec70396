// Package sqlite is an objectstore.Bucket in one SQLite database file
// (sqlite:///path/siesta.db), through modernc.org/sqlite, so siesta still
// builds with CGO_ENABLED=0.
//
// Objects are rows of one table, and an object's etag is a version number
// drawn from a counter that only grows, so an etag never repeats for a key,
// not even after the key is deleted and created again. Conditional writes
// run in BEGIN IMMEDIATE transactions, which take the database's write lock
// before they read, so they are atomic with respect to each other across
// connections and processes.
//
// # Durability
//
// The database runs in WAL mode. A write returns after its transaction has
// committed to the write-ahead log. With the default synchronous=full the log
// is fsynced at every commit: a write that returned survives a crash or
// SIGKILL of siesta, an operating system crash and a power loss. With
// synchronous=normal (?synchronous=normal) the log is fsynced only at
// checkpoints: a write that returned survives a crash or SIGKILL of siesta,
// but the most recent writes before an operating system crash or power loss
// may be lost; the database is not corrupted either way. Pick normal only
// where losing recently acknowledged records on power loss is acceptable.
//
// # Sharing the file
//
// Several siesta processes on one machine may open the same file, as brokers
// share a bucket: SQLite's file locks serialize their writes, and a write
// waits up to Options.BusyTimeout for another process's lock. WAL needs
// shared memory between those processes, so the file must be on a local
// filesystem, not NFS or SMB, and brokers on different machines cannot share
// it. Within one process, a Bucket has one connection for writes and a pool
// of connections for reads, which never wait for writes. Writes that queue
// while one commits are committed together in the next transaction (group
// commit), so concurrent writes share one fsync.
//
// # Backups
//
// Copying the file while siesta runs can yield a torn database: the newest
// writes live in the -wal file. Bucket.Backup takes a consistent copy while
// writes go on (VACUUM INTO).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/siestamq/siesta/objectstore"
)

// schemaVersion is stored in PRAGMA user_version. Open refuses a database
// written with a newer layout.
const schemaVersion = 1

// schema creates the tables of an empty database and changes nothing in a
// database that has them.
//
// objects is an ordinary rowid table, not WITHOUT ROWID: its rows hold record
// batches of kilobytes to megabytes, and SQLite keeps large rows best in a
// rowid table with the blob, last, on overflow pages. The key's index serves
// Get and List, and List reads length(data) without loading the blob.
//
// counters holds the last version handed out. It is never reset, so an etag
// is never reused, whatever was deleted.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS objects (
		key      TEXT PRIMARY KEY NOT NULL,
		version  INTEGER NOT NULL,
		modified INTEGER NOT NULL, -- Unix nanoseconds
		data     BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS counters (
		name  TEXT PRIMARY KEY NOT NULL,
		value INTEGER NOT NULL
	) WITHOUT ROWID`,
	`INSERT INTO counters (name, value) VALUES ('version', 0) ON CONFLICT DO NOTHING`,
}

// The statements, prepared once per Bucket.
const (
	sqlGet          = `SELECT data, version FROM objects WHERE key = ?`
	sqlRange        = `SELECT substr(data, ?, ?) FROM objects WHERE key = ?`
	sqlRangeToEnd   = `SELECT substr(data, ?) FROM objects WHERE key = ?`
	sqlList         = `SELECT key, length(data), version, modified FROM objects WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`
	sqlListToEnd    = `SELECT key, length(data), version, modified FROM objects WHERE key >= ? ORDER BY key LIMIT ?`
	sqlNextVersion  = `UPDATE counters SET value = value + 1 WHERE name = 'version' RETURNING value`
	sqlInsert       = `INSERT INTO objects (key, version, modified, data) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	sqlUpdate       = `UPDATE objects SET version = ?, modified = ?, data = ? WHERE key = ? AND version = ?`
	sqlDelete       = `DELETE FROM objects WHERE key = ?`
	defaultPageSize = 1000
)

// maxBlob is past the end of any blob: SQLite's limit on a value's length
// is at most 2^31-1 bytes. GetRange clamps offsets and lengths to it, so
// that offset+length cannot overflow inside SQLite.
const maxBlob = math.MaxInt32

// Bucket is an objectstore.Bucket in one SQLite database file. It is safe
// for concurrent use, and several Buckets, in one process or several, may
// share the file.
type Bucket struct {
	path string
	opts Options
	w    *sql.DB // one connection: writes queue here
	r    *sql.DB // a pool of read-only connections
	c    *sql.DB // one connection for background checkpoints

	// SQLite's automatic checkpoint runs inside the commit that crosses
	// its threshold, holding up that write (and every write queued behind
	// it) for the checkpoint's fsyncs. The writer turns it off and writes
	// that added checkpointBytes to the WAL start one in the background.
	walBytes      atomic.Int64
	checkpointing atomic.Bool
	background    sync.WaitGroup

	// The database is opened on first use, not by Open: a broker's cold
	// start (exec to first answer) never touches storage.
	openMu sync.Mutex
	opened atomic.Bool

	get, rng, rngToEnd, list, listToEnd *sql.Stmt // on r
	nextVersion, insert, update, del    *sql.Stmt // on w

	// Conditional writes that arrive while one is being committed wait
	// in queue and are committed together, in arrival order, in the next
	// transaction: one fsync for all of them (see write).
	queueMu sync.Mutex
	queue   []*pendingWrite
	writing bool
}

// pendingWrite is a conditional write waiting for its transaction.
type pendingWrite struct {
	ctx  context.Context
	size int
	put  putFunc
	etag string
	err  error
	done chan struct{} // closed when the write is committed or failed
	lead chan struct{} // closed when its caller is to commit the queue
}

// putFunc runs one conditional write's statement in tx with the version
// drawn for it.
type putFunc func(ctx context.Context, tx *sql.Tx, version, now int64) (sql.Result, error)

var _ objectstore.Bucket = (*Bucket)(nil)

// Open returns a bucket for the database file at path, which is opened, and
// created with its tables if it does not exist, on first use; the directory
// it is in must exist now. A relative path is taken from the working
// directory.
func Open(ctx context.Context, path string, opts Options) (*Bucket, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	// SQLite's own message for a missing directory is "unable to open
	// database file"; say which directory.
	if fi, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("sqlite %s: directory: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sqlite %s: %s is not a directory", path, filepath.Dir(path))
	}
	return &Bucket{path: path, opts: opts}, nil
}

// ready opens the database the first time it is needed. A failed open is
// tried again by the next call.
func (b *Bucket) ready(ctx context.Context) error {
	if b.opened.Load() {
		return nil
	}
	b.openMu.Lock()
	defer b.openMu.Unlock()
	if b.opened.Load() {
		return nil
	}
	if err := b.open(ctx, b.opts); err != nil {
		b.closeDBs()
		return fmt.Errorf("sqlite %s: %w", b.path, err)
	}
	b.opened.Store(true)
	return nil
}

// pageSize is the page size of a database the bucket creates. Record
// batches are stored as blobs of up to a few MB, split into overflow
// pages that are each copied and checksummed into the WAL: 16 KiB pages
// instead of SQLite's 4 KiB raise produce throughput by about 45% with
// the same latency (docs/benchmarks.md); larger pages cost latency on
// small writes. An existing database keeps the page size it has.
const pageSize = 16 << 10

func (b *Bucket) open(ctx context.Context, opts Options) error {
	var err error
	// The writer: BEGIN IMMEDIATE takes the write lock before the first
	// read, so a conditional write's check and its write are one step.
	// Its page size applies when it creates the file (see pageSize).
	b.w, err = sql.Open("sqlite", dsn(b.path, opts, fmt.Sprintf("_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=page_size(%d)", pageSize)))
	if err != nil {
		return err
	}
	b.w.SetMaxOpenConns(1)
	b.w.SetMaxIdleConns(1)
	b.w.SetConnMaxLifetime(0)
	b.w.SetConnMaxIdleTime(0)
	if err := b.initSchema(ctx); err != nil {
		return err
	}

	b.c, err = sql.Open("sqlite", dsn(b.path, opts, ""))
	if err != nil {
		return err
	}
	b.c.SetMaxOpenConns(1)

	b.r, err = sql.Open("sqlite", dsn(b.path, opts, "_pragma=query_only(1)"))
	if err != nil {
		return err
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	b.r.SetMaxOpenConns(readers)
	b.r.SetMaxIdleConns(readers)

	for _, s := range []struct {
		db    *sql.DB
		dst   **sql.Stmt
		query string
	}{
		{b.r, &b.get, sqlGet},
		{b.r, &b.rng, sqlRange},
		{b.r, &b.rngToEnd, sqlRangeToEnd},
		{b.r, &b.list, sqlList},
		{b.r, &b.listToEnd, sqlListToEnd},
		{b.w, &b.nextVersion, sqlNextVersion},
		{b.w, &b.insert, sqlInsert},
		{b.w, &b.update, sqlUpdate},
		{b.w, &b.del, sqlDelete},
	} {
		if *s.dst, err = s.db.PrepareContext(ctx, s.query); err != nil {
			return fmt.Errorf("prepare %q: %w", s.query, err)
		}
	}
	return nil
}

// dsn is the driver's name for the file at path with the pragmas every
// connection runs, plus extra driver parameters.
func dsn(path string, opts Options, extra string) string {
	q := url.Values{}
	// busy_timeout first: the other pragmas may need to wait for a lock.
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous("+string(opts.Synchronous)+")")
	raw := q.Encode()
	if extra != "" {
		raw += "&" + extra
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: raw}).String()
}

// initSchema switches the file to WAL and creates the tables. Several
// processes may do this at once on a new file: each step waits for the
// others' locks, and every statement is a no-op the second time.
func (b *Bucket) initSchema(ctx context.Context) error {
	var mode string
	if err := b.w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q: the filesystem does not support WAL", mode)
	}
	// An existing database needs no write at start (cold start: a write
	// here costs fsyncs on every start).
	var current int
	if err := b.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current == schemaVersion {
		return nil
	}
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this siesta's (%d)", version, schemaVersion)
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Path returns the absolute path of the database file.
func (b *Bucket) Path() string { return b.path }

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (objectstore.Object, error) {
	if err := b.ready(ctx); err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	var (
		data    []byte
		version int64
	)
	err := b.get.QueryRowContext(ctx, key).Scan(&data, &version)
	if err != nil {
		return objectstore.Object{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	return objectstore.Object{Data: data, ETag: etag(version)}, nil
}

// GetRange implements objectstore.Bucket. SQLite's substr cuts the range, so
// only the range is copied into Go; SQLite still reads the blob's pages up
// to the range's end.
func (b *Bucket) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := b.ready(ctx); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", key, offset)
	}
	start := min(offset, maxBlob) + 1 // substr counts from 1
	var row *sql.Row
	if length < 0 {
		row = b.rngToEnd.QueryRowContext(ctx, start, key)
	} else {
		row = b.rng.QueryRowContext(ctx, start, min(length, maxBlob), key)
	}
	var data []byte
	if err := row.Scan(&data); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	if data == nil { // substr of an empty blob, or past the end, is NULL
		data = []byte{}
	}
	return data, nil
}

// PutIfAbsent implements objectstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	etag, err := b.write(ctx, len(data), func(ctx context.Context, tx *sql.Tx, version, now int64) (sql.Result, error) {
		return tx.StmtContext(ctx, b.insert).ExecContext(ctx, key, version, now, blob(data))
	})
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	return etag, nil
}

// PutIfMatch implements objectstore.Bucket.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	old, err := strconv.ParseInt(etag, 10, 64)
	if err != nil { // not an etag this bucket handed out, so it cannot match
		return "", fmt.Errorf("put %s: etag %q: %w", key, etag, objectstore.ErrPreconditionFailed)
	}
	newETag, err := b.write(ctx, len(data), func(ctx context.Context, tx *sql.Tx, version, now int64) (sql.Result, error) {
		return tx.StmtContext(ctx, b.update).ExecContext(ctx, version, now, blob(data), key, old)
	})
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	return newETag, nil
}

// write runs one conditional write of size bytes: it draws the next
// version, runs put with it, and the write is committed if put changed a
// row. A put that changed nothing lost its condition:
// ErrPreconditionFailed.
//
// Writes are committed in groups (group commit): the first caller commits
// its write and every write that queued meanwhile, in order, in one
// transaction, so concurrent appends to different partitions share one
// fsync under synchronous=full. A write whose condition fails does not
// affect the others in its group. The write always completes before write
// returns, even if ctx ends meanwhile, so its outcome is never unknown; a
// write whose ctx has ended before its group starts is not made.
func (b *Bucket) write(ctx context.Context, size int, put putFunc) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := b.ready(ctx); err != nil {
		return "", err
	}
	w := &pendingWrite{ctx: ctx, size: size, put: put, done: make(chan struct{}), lead: make(chan struct{})}
	b.queueMu.Lock()
	b.queue = append(b.queue, w)
	if !b.writing {
		b.writing = true
		close(w.lead)
	}
	b.queueMu.Unlock()
	select {
	case <-w.done:
	case <-w.lead:
		b.commitQueued()
	}
	return w.etag, w.err
}

// commitQueued commits everything queued, its caller's write among it, as
// one group, then hands the next group to the first caller that queued
// since, so that no caller commits for others for long. One caller runs it
// at a time (b.writing).
func (b *Bucket) commitQueued() {
	b.queueMu.Lock()
	group := b.queue
	b.queue = nil
	b.queueMu.Unlock()
	b.commitGroup(group)
	for _, w := range group {
		close(w.done)
	}
	b.queueMu.Lock()
	if len(b.queue) > 0 {
		close(b.queue[0].lead)
	} else {
		b.writing = false
	}
	b.queueMu.Unlock()
}

// commitGroup runs group's writes in one transaction. The statements run
// on a context no caller can cancel: an interrupted statement would roll
// back the others' writes. An error other than a failed condition fails
// the whole group, which is then not written.
func (b *Bucket) commitGroup(group []*pendingWrite) {
	// A failed group writes nothing, so every write in it fails with
	// err, those whose condition failed too: their condition may have
	// failed only because of an earlier write in the group. Only writes
	// whose caller gave up keep that error.
	fail := func(err error) {
		for _, w := range group {
			if w.err == nil || errors.Is(w.err, objectstore.ErrPreconditionFailed) {
				w.etag, w.err = "", err
			}
		}
	}
	ctx := context.Background()
	tx, err := b.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	size, written := 0, 0
	for _, w := range group {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			continue
		}
		var version int64
		if err := tx.StmtContext(ctx, b.nextVersion).QueryRowContext(ctx).Scan(&version); err != nil {
			fail(fmt.Errorf("next version: %w", err))
			return
		}
		res, err := w.put(ctx, tx, version, time.Now().UnixNano())
		if err != nil {
			fail(err)
			return
		}
		n, err := res.RowsAffected()
		if err != nil {
			fail(err)
			return
		}
		if n == 0 {
			w.err = objectstore.ErrPreconditionFailed
			continue
		}
		w.etag = etag(version)
		size += w.size
		written++
	}
	if written == 0 {
		return // nothing to commit; the rollback undoes the versions drawn
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	b.wrote(size)
}

// checkpointBytes is how much a bucket writes to the WAL before it
// checkpoints it into the database file: SQLite's own default of 1000
// pages, about 4 MiB.
const checkpointBytes = 4 << 20

// wrote notes size bytes committed to the WAL and starts a checkpoint in
// the background when enough have gathered. A PASSIVE checkpoint never
// waits for writers or readers: writes go on while it copies.
func (b *Bucket) wrote(size int) {
	if b.walBytes.Add(int64(size)) < checkpointBytes || !b.checkpointing.CompareAndSwap(false, true) {
		return
	}
	b.walBytes.Store(0)
	b.background.Go(func() {
		defer b.checkpointing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A failed checkpoint only leaves the WAL longer; the next one,
		// or the last connection's close, catches up.
		_, _ = b.c.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	})
}

// List implements objectstore.Bucket.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if err := b.ready(ctx); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	// One lower bound, so that SQLite seeks straight to it: the smallest
	// key after startAfter is startAfter+"\x00".
	from := prefix
	if startAfter >= from {
		from = startAfter + "\x00"
	}
	var (
		rows *sql.Rows
		err  error
	)
	if end, ok := prefixEnd(prefix); ok {
		rows, err = b.list.QueryContext(ctx, from, end, limit)
	} else {
		rows, err = b.listToEnd.QueryContext(ctx, from, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	defer rows.Close()
	var out []objectstore.ObjectInfo
	for rows.Next() {
		var (
			o                 objectstore.ObjectInfo
			version, modified int64
		)
		if err := rows.Scan(&o.Key, &o.Size, &version, &modified); err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		o.ETag = etag(version)
		o.LastModified = time.Unix(0, modified)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return out, nil
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, or false if there is none (prefix is empty or all
// 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := []byte(prefix[:i+1])
			end[i]++
			return string(end), true
		}
	}
	return "", false
}

// Delete implements objectstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.ready(ctx); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// One statement outside a transaction begins its own write transaction,
	// which waits for other processes' write locks as BEGIN IMMEDIATE does.
	if _, err := b.del.ExecContext(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Close closes the database. The readers close first, so that the writer's
// connection is the last and checkpoints the WAL into the database file
// with its own synchronous setting.
func (b *Bucket) Close() error {
	b.background.Wait()
	b.openMu.Lock()
	defer b.openMu.Unlock()
	if err := b.closeDBs(); err != nil {
		return fmt.Errorf("sqlite %s: close: %w", b.path, err)
	}
	return nil
}

// closeDBs closes whatever open created. b.openMu is held.
func (b *Bucket) closeDBs() error {
	var errs []error
	for _, db := range []**sql.DB{&b.r, &b.c, &b.w} {
		if *db != nil {
			errs = append(errs, (*db).Close())
			*db = nil
		}
	}
	b.opened.Store(false)
	return errors.Join(errs...)
}

func etag(version int64) string { return strconv.FormatInt(version, 10) }

// blob keeps an empty object a zero-length blob, not NULL.
func blob(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return objectstore.ErrNotFound
	}
	return err
}
