package store

import (
	"bytes"
	"compress/flate"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// rowOverhead is a rough count of the bytes a row costs beyond its values:
// the record header, the cell pointer and the id index entry. Eviction
// measures pages and only uses sizes to choose how many rows to remove.
const rowOverhead = 64

// maxDecoded bounds an inflated capture, in case the file was tampered with.
const maxDecoded = 64 << 20

const insertSQL = `INSERT OR IGNORE INTO captures
	(id, time_ns, status, route, method, path, trace_id, duration_ms, size, data)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// row is a capture ready to insert.
type row struct {
	sum  capture.Summary
	data []byte
}

func (r *row) size() int64 {
	s := r.sum
	return int64(len(r.data)+len(s.ID)+len(s.Route)+len(s.Method)+len(s.Path)+len(s.TraceID)) + rowOverhead
}

// Put stores cs in one transaction, then evicts the oldest captures until
// the store is within its bounds, and returns how many it evicted (the new
// ones among them, when one alone passes the bound). A capture without an ID
// gets one from its time (now, when that is zero). Put does not redact: its
// caller must have. An ID already stored is skipped.
func (s *Store) Put(ctx context.Context, cs []*capture.Capture) (evicted int, err error) {
	if s.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	rows := make([]row, 0, len(cs))
	for _, c := range cs {
		if c.Time.IsZero() {
			c.Time = s.opts.Now()
		}
		if !capture.ValidID(c.ID) {
			c.ID = capture.NewID(c.Time)
		}
		data, err := encode(c)
		if err != nil {
			return 0, fmt.Errorf("encode capture: %w", err)
		}
		rows = append(rows, row{c.Summarize(), data})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db.Load() == nil {
		if err := s.openLater(); err != nil {
			return 0, err
		}
	} else if err := s.checkFile(); err != nil {
		return 0, err
	}
	tx, err := s.db.Load().BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	count := s.count
	for i := range rows {
		r := &rows[i]
		res, err := stmt.ExecContext(ctx, r.sum.ID, r.sum.Time.UnixNano(), r.sum.Status, r.sum.Route,
			r.sum.Method, r.sum.Path, r.sum.TraceID, r.sum.DurationMS, r.size(), r.data)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		count += int(n)
	}
	evicted, count, err = s.evict(ctx, tx, count)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.count = count
	return evicted, nil
}

// evict removes the oldest captures past MaxCount, then past the page
// budget, measured from the page counts the transaction sees. Removing down
// to 90 % of the budget leaves room for a few batches before the next
// eviction. It returns the number removed and the count left.
func (s *Store) evict(ctx context.Context, tx *sql.Tx, count int) (evicted, left int, err error) {
	if over := count - s.opts.MaxCount; over > 0 {
		n, err := execN(ctx, tx, `DELETE FROM captures WHERE id IN (SELECT id FROM captures ORDER BY id LIMIT ?)`, over)
		if err != nil {
			return 0, count, err
		}
		evicted += n
		count -= n
	}
	pageSize, err := pragmaInt(ctx, tx, "page_size")
	if err != nil {
		return evicted, count, err
	}
	for range 16 {
		pages, err := pragmaInt(ctx, tx, "page_count")
		if err != nil {
			return evicted, count, err
		}
		free, err := pragmaInt(ctx, tx, "freelist_count")
		if err != nil {
			return evicted, count, err
		}
		if used := (pages - free) * pageSize; used > s.dataLimit && count > 0 {
			n, err := s.evictBytes(ctx, tx, used-s.dataLimit*9/10)
			if err != nil {
				return evicted, count, err
			}
			evicted += n
			count -= n
			continue
		}
		if pages*pageSize > s.dataLimit && free > 0 {
			// Give free pages back when the file itself is over budget
			// (after an eviction, or a restart with a lower bound).
			if _, err := tx.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
				return evicted, count, err
			}
		}
		return evicted, count, nil
	}
	return evicted, count, nil
}

// evictBytes removes the oldest captures whose sizes add up to need.
func (s *Store) evictBytes(ctx context.Context, tx *sql.Tx, need int64) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, size FROM captures ORDER BY id LIMIT 1000`)
	if err != nil {
		return 0, err
	}
	var last string
	var sum int64
	for rows.Next() && sum < need {
		var size int64
		if err := rows.Scan(&last, &size); err != nil {
			rows.Close()
			return 0, err
		}
		sum += size
	}
	rows.Close()
	if err := rows.Err(); err != nil || last == "" {
		return 0, err
	}
	return execN(ctx, tx, `DELETE FROM captures WHERE id <= ?`, last)
}

func execN(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func pragmaInt(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, "PRAGMA "+name).Scan(&n)
	return n, err
}

var flaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression)
	return w
}}

// encode returns c's JSON, deflated.
func encode(c *capture.Capture) ([]byte, error) {
	js, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(js) / 3)
	w := flaters.Get().(*flate.Writer)
	defer flaters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decode(data []byte) (*capture.Capture, error) {
	r := flate.NewReader(bytes.NewReader(data))
	defer r.Close()
	js, err := io.ReadAll(io.LimitReader(r, maxDecoded))
	if err != nil {
		return nil, fmt.Errorf("inflate capture: %w", err)
	}
	var c capture.Capture
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, fmt.Errorf("decode capture: %w", err)
	}
	return &c, nil
}
