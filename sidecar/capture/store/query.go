package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// Limits of Query.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects captures for List. The zero value lists the newest
// DefaultLimit captures.
type Query struct {
	// CodeMin and CodeMax bound the response status, inclusive; zero
	// means no bound.
	CodeMin, CodeMax int
	// Route, when set, is the exact route template.
	Route string
	// Since, when set, keeps captures at or after it.
	Since time.Time
	// Before, when set, is a capture ID: only older captures are listed.
	// Passing the last ID of a page gets the next page.
	Before string
	// Limit is the most captures returned: 0 means DefaultLimit, and it is
	// capped at MaxLimit.
	Limit int
}

// ParamError is a bad query parameter. Its message names it.
type ParamError struct {
	Param string // "code", "route", "since", "limit" or "before"
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Msg }

// ParseQuery reads a Query from the admin API's parameters code, route,
// since, limit and before; now resolves a relative since. Errors are
// *ParamError.
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	var q Query
	var err error
	if s := v.Get("code"); s != "" {
		if q.CodeMin, q.CodeMax, err = ParseCode(s); err != nil {
			return q, &ParamError{"code", err.Error()}
		}
	}
	q.Route = v.Get("route")
	if s := v.Get("since"); s != "" {
		if q.Since, err = ParseSince(s, now); err != nil {
			return q, &ParamError{"since", err.Error()}
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = ParseLimit(s); err != nil {
			return q, &ParamError{"limit", err.Error()}
		}
	}
	if s := v.Get("before"); s != "" {
		if !capture.ValidID(s) {
			return q, &ParamError{"before", fmt.Sprintf("%q is not a capture id", s)}
		}
		q.Before = s
	}
	return q, nil
}

// Values is the inverse of ParseQuery: q as admin API parameters.
func (q Query) Values() url.Values {
	v := url.Values{}
	switch {
	case q.CodeMin == 0 && q.CodeMax == 0:
	case q.CodeMin == q.CodeMax:
		v.Set("code", strconv.Itoa(q.CodeMin))
	case q.CodeMin%100 == 0 && q.CodeMax == q.CodeMin+99:
		v.Set("code", strconv.Itoa(q.CodeMin/100)+"xx")
	}
	if q.Route != "" {
		v.Set("route", q.Route)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	return v
}

// ParseCode reads a status code (422) or class (4xx) as an inclusive range.
func ParseCode(s string) (lo, hi int, err error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if len(t) == 3 && t[1:] == "xx" && t[0] >= '1' && t[0] <= '5' {
		lo = int(t[0]-'0') * 100
		return lo, lo + 99, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, fmt.Errorf("%q is not a status code (100-599) or class (1xx-5xx)", s)
	}
	return n, n, nil
}

// ParseSince reads an RFC 3339 time, or a duration before now such as 15m,
// 2h or 7d.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 100000 {
			err = errors.New("too long")
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a duration like 15m, 2h, 7d", s)
	}
	return now.Add(-d), nil
}

// ParseLimit reads a limit, 1 to MaxLimit.
func ParseLimit(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("%q is not a number from 1 to %d", s, MaxLimit)
	}
	return n, nil
}

// List returns the captures q selects, newest first.
func (s *Store) List(ctx context.Context, q Query) ([]capture.Summary, error) {
	var where []string
	var args []any
	if q.CodeMin > 0 {
		where, args = append(where, "status >= ?"), append(args, q.CodeMin)
	}
	if q.CodeMax > 0 {
		where, args = append(where, "status <= ?"), append(args, q.CodeMax)
	}
	if q.Route != "" {
		where, args = append(where, "route = ?"), append(args, q.Route)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time_ns >= ?"), append(args, q.Since.UnixNano())
	}
	if q.Before != "" {
		where, args = append(where, "id < ?"), append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	args = append(args, min(limit, MaxLimit))
	query := `SELECT id, time_ns, duration_ms, trace_id, route, method, path, status FROM captures`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	db, err := s.conn()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []capture.Summary{}
	for rows.Next() {
		var c capture.Summary
		var ns int64
		if err := rows.Scan(&c.ID, &ns, &c.DurationMS, &c.TraceID, &c.Route, &c.Method, &c.Path, &c.Status); err != nil {
			return nil, err
		}
		c.Time = time.Unix(0, ns).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Get returns the capture with the given ID, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*capture.Capture, error) {
	db, err := s.conn()
	if err != nil {
		return nil, err
	}
	var data []byte
	err = db.QueryRowContext(ctx, `SELECT data FROM captures WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode(data)
}

// Count returns the number of captures stored.
func (s *Store) Count(ctx context.Context) (int, error) {
	db, err := s.conn()
	if err != nil {
		return 0, err
	}
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM captures`).Scan(&n)
	return n, err
}
