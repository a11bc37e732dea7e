// Package store keeps captures in a SQLite file, bounded in bytes and in
// count, oldest first out.
//
// The file is opened in WAL mode with synchronous=NORMAL, so that a write
// costs one append and no fsync of the main file, readers (the admin API,
// the CLI) never wait for the writer, and a crash loses at most the last
// transactions, never the file. Each capture is one row: the columns the
// list filters on, and the capture's JSON, deflated.
//
// The store never holds an unredacted value: it stores what it is given,
// and the Recorder (package recorder) redacts before it calls Put.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 256 << 20
	DefaultMaxCount = 10000
	// FileName is the store's file name under a data directory.
	FileName = "captures.db"
)

// schemaVersion is the layout this code reads and writes. A store written by
// a newer faultline is refused rather than misread.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS captures (
	id          TEXT    NOT NULL PRIMARY KEY,
	time_ns     INTEGER NOT NULL,
	status      INTEGER NOT NULL,
	route       TEXT    NOT NULL,
	method      TEXT    NOT NULL,
	path        TEXT    NOT NULL,
	trace_id    TEXT    NOT NULL,
	duration_ms REAL    NOT NULL,
	size        INTEGER NOT NULL,
	data        BLOB    NOT NULL
);`

// Options configures a Store. The zero value means the defaults.
type Options struct {
	// MaxBytes bounds the files (the database and its WAL); default 256 MiB.
	// Between two evictions the files may pass it by one batch of captures.
	MaxBytes int64
	// MaxCount bounds the number of captures; default 10000.
	MaxCount int
	// ReadOnly opens an existing store for reading only (the CLI's
	// --data-dir): nothing is created, written, evicted or moved.
	ReadOnly bool
	// Logger receives warnings (a corrupt file moved aside, a deleted file
	// recreated). Nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is a capture store on disk. It is safe for concurrent use; writes
// are serialised.
type Store struct {
	path      string
	opts      Options
	log       *slog.Logger
	db        atomic.Pointer[sql.DB]
	walLimit  int64 // bytes the WAL may reach before a checkpoint
	dataLimit int64 // bytes of database pages allowed

	mu        sync.Mutex // serialises writers; guards the fields below
	count     int
	file      os.FileInfo
	lastCheck time.Time
	// With the disk full at Open, db is nil until a Put finds room:
	// openErr is the last failure, lastOpen when it was tried.
	openErr  error
	lastOpen time.Time
	closed   bool
}

// ErrNotFound is returned by Get for an unknown ID.
var ErrNotFound = errors.New("capture not found")

// ErrReadOnly is returned by Put on a store opened with ReadOnly.
var ErrReadOnly = errors.New("capture store is read-only")

// ErrUnavailable is returned by reads of a store that could not be opened
// yet because its disk is full (see Open).
var ErrUnavailable = errors.New("capture store unavailable: its disk is full")

// Open opens the store at path, creating it and its directory (mode 0700,
// file 0600: captures hold user data) unless opts.ReadOnly.
//
// A file that is not a database, or whose schema is corrupt, is renamed to
// path.corrupt-<UTC time> with a warning, and a new store is started. An
// error (a read-only or missing directory, an unwritable file, a store
// written by a newer faultline) names path; at start-up the caller reports
// it as a bad --capture-store.
//
// A full disk is not an error: it passes, and the app's traffic must not
// wait for it. Open then warns and returns a store without a database;
// Put tries to open it again (at most once a second) and fails until there
// is room, and reads fail with ErrUnavailable.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxCount <= 0 {
		opts.MaxCount = DefaultMaxCount
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	s := &Store{path: abs, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// The WAL gets a sixteenth of the budget, between 64 KiB and 4 MiB;
	// the pages get the rest less room for the WAL to overshoot once.
	s.walLimit = min(max(opts.MaxBytes/16, 64<<10), 4<<20)
	s.dataLimit = max(opts.MaxBytes-2*s.walLimit, 64<<10)

	if opts.ReadOnly {
		if _, err := os.Stat(abs); err != nil {
			return nil, pathError(path, err)
		}
		db, err := s.openDB()
		if err != nil {
			return nil, pathError(path, err)
		}
		s.db.Store(db)
		return s, nil
	}

	db, err := s.create()
	if isCorrupt(err) {
		aside := abs + ".corrupt-" + opts.Now().UTC().Format("20060102T150405Z")
		if rerr := moveAside(abs, aside); rerr != nil {
			return nil, fmt.Errorf("capture store %s: %w (and it could not be moved aside: %v)", path, err, rerr)
		}
		s.log.Warn("capture store was corrupt; moved it aside and started a new one", "path", abs, "moved_to", aside, "err", err)
		db, err = s.create()
	}
	if err != nil && diskFull(filepath.Dir(abs), err) {
		s.log.Warn("capture store: the disk is full; captures are dropped until there is room", "path", abs, "err", err)
		s.openErr, s.lastOpen = pathError(path, err), opts.Now()
		return s, nil
	}
	if err != nil {
		return nil, pathError(path, err)
	}
	s.db.Store(db)
	return s, nil
}

// openLater opens the database of a store that Open found on a full disk,
// at most once a second. Called with s.mu held.
func (s *Store) openLater() error {
	if s.closed {
		return ErrUnavailable
	}
	now := s.opts.Now()
	if now.Sub(s.lastOpen) < time.Second {
		return s.openErr
	}
	s.lastOpen = now
	db, err := s.create()
	if err != nil {
		s.openErr = pathError(s.path, err)
		return s.openErr
	}
	s.db.Store(db)
	s.openErr = nil
	s.log.Info("capture store opened: the disk has room again", "path", s.path)
	return nil
}

// conn returns the database, or ErrUnavailable while a full disk keeps it
// closed.
func (s *Store) conn() (*sql.DB, error) {
	if db := s.db.Load(); db != nil {
		return db, nil
	}
	return nil, ErrUnavailable
}

// create makes the file (owner-only: SQLite gives its -wal and -shm files
// the same mode), opens it, sets up the schema and enforces the bounds.
func (s *Store) create() (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	if err := s.setup(db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openDB opens the connection pool. Every connection gets the pragmas.
func (s *Store) openDB() (*sql.DB, error) {
	q := "_busy_timeout=5000"
	if s.opts.ReadOnly {
		q += "&mode=ro&_query_only=1"
	} else {
		walPages := s.walLimit / 4096
		q += "&_txlock=immediate&_auto_vacuum=INCREMENTAL&_journal_mode=WAL&_synchronous=NORMAL" +
			"&_pragma=" + escapeQuery("journal_size_limit("+strconv.FormatInt(s.walLimit, 10)+")") +
			"&_pragma=" + escapeQuery("wal_autocheckpoint("+strconv.FormatInt(walPages, 10)+")")
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(s.path)+"?"+q)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if s.opts.ReadOnly {
		if err := checkVersion(db); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func (s *Store) setup(db *sql.DB) error {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, schemaVersion); err != nil {
			return err
		}
	case err != nil:
		return err
	case v > schemaVersion:
		return fmt.Errorf("written by a newer faultline (schema %d, this one reads up to %d)", v, schemaVersion)
	}
	// Reading every row's size walks the table, which also finds a
	// damaged tree now rather than at the first write.
	var count int
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM captures`).Scan(&count, &size); err != nil {
		return err
	}
	// The bounds may have been lowered since the last run.
	_, count, err = s.evict(ctx, tx, count)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	s.count, s.file, s.lastCheck = count, fi, s.opts.Now()
	return nil
}

func checkVersion(db *sql.DB) error {
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return errors.New("not a capture store (no schema version)")
		}
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("written by a newer faultline (schema %d, this one reads up to %d)", v, schemaVersion)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Bytes is the size of the store's files: the database and its WAL.
func (s *Store) Bytes() int64 {
	var n int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Checkpoint copies the WAL into the database and truncates it.
func (s *Store) Checkpoint(ctx context.Context) error {
	db, err := s.conn()
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// Close closes the store. On the last connection SQLite checkpoints the WAL
// and removes it.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if db := s.db.Load(); db != nil {
		return db.Close()
	}
	return nil
}

// checkFile notices that the file was deleted or replaced under the store
// (at most once a second) and starts a new one, so that captures do not go
// on into an unlinked file that vanishes at the next start. Called with
// s.mu held.
func (s *Store) checkFile() error {
	now := s.opts.Now()
	if now.Sub(s.lastCheck) < time.Second {
		return nil
	}
	s.lastCheck = now
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.file) {
		return nil
	}
	s.log.Warn("capture store file was removed or replaced; starting a new one", "path", s.path)
	db, err := s.create()
	if err != nil {
		return err
	}
	s.db.Swap(db).Close()
	return nil
}

// pathError names the store in err once: an *fs.PathError for the store's
// own file already does.
func pathError(path string, err error) error {
	var pe *fs.PathError
	abs, _ := filepath.Abs(path)
	if errors.As(err, &pe) && (pe.Path == path || pe.Path == abs) {
		return fmt.Errorf("capture store %s: %s: %w", path, pe.Op, pe.Err)
	}
	return fmt.Errorf("capture store %s: %w", path, err)
}

// isCorrupt reports whether err says the file is not a usable database.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_CORRUPT || code == sqlite3.SQLITE_NOTADB
}

// isFull reports whether err is SQLite's "database or disk is full".
func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// moveAside renames the database and its WAL to aside, and removes the
// shared-memory index, which SQLite rebuilds.
func moveAside(path, aside string) error {
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	if err := os.Rename(path+"-wal", aside+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// escapePath escapes the characters that end a path in an SQLite URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

func escapeQuery(s string) string { return url.QueryEscape(s) }
