package route

import (
	"sync"
	"sync/atomic"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// DefaultMaxRoutes is the cap on distinct heuristic routes when
// Options.MaxRoutes is zero.
const DefaultMaxRoutes = 100

// Options configure a Matcher. The zero Options are the defaults.
type Options struct {
	// MaxRoutes caps the number of distinct routes the heuristic hands
	// out; zero or less means DefaultMaxRoutes. Templates do not count.
	MaxRoutes int
}

// A Matcher maps request paths to route labels. It is safe for concurrent
// use; the zero Matcher is not usable, use NewMatcher.
//
// The labels a Matcher returns are bounded: a template of its current
// Table, a collapsed path (at most MaxRoutes distinct ones over the
// Matcher's life, each at most MaxCollapsedLen bytes),
// metricnames.RouteOther once that cap is reached, or
// metricnames.RouteUnmatched for a path that does not start with "/".
// Collapsed paths are never forgotten, not even when the templates change,
// so that the cap holds for the series a metrics registry keeps.
type Matcher struct {
	table atomic.Pointer[Table]
	max   int

	// read holds a snapshot of the interned routes, read without a lock.
	// Once full is set it holds all of them and never changes again.
	read atomic.Pointer[map[string]string]
	full atomic.Bool

	mu     sync.Mutex
	dirty  map[string]string // every interned route; guarded by mu
	misses int               // lookups that missed read and hit dirty

	overflows atomic.Uint64
}

// NewMatcher returns a Matcher with no templates: until SetTemplates is
// called, every path goes through the heuristic.
func NewMatcher(opts Options) *Matcher {
	m := &Matcher{max: opts.MaxRoutes, dirty: map[string]string{}}
	if m.max <= 0 {
		m.max = DefaultMaxRoutes
	}
	m.read.Store(&map[string]string{})
	return m
}

// SetTemplates makes t the Table that Match consults first; nil removes
// it. Calls of Match that run at the same time see either Table whole.
func (m *Matcher) SetTemplates(t *Table) { m.table.Store(t) }

// Table returns the current Table, or nil.
func (m *Matcher) Table() *Table { return m.table.Load() }

// Overflows returns how many times Match returned metricnames.RouteOther
// because the cap on heuristic routes had been reached. It backs the
// metric metricnames.RoutesOverflowTotal.
func (m *Matcher) Overflows() uint64 { return m.overflows.Load() }

// Match returns the route label of path, a URL path such as
// net/url.URL.Path (anything from a "?" on is ignored).
//
// A path that matches a template returns that template. Any other path
// is collapsed: each segment that looks like an id becomes a placeholder
// (PlaceholderID, PlaceholderUUID, PlaceholderHex, PlaceholderDate,
// PlaceholderEmail, PlaceholderToken), segments past MaxSegments become
// "/...", and "/users/42/orders/2024-01-31" is "/users/{id}/orders/{date}".
// Match does not allocate unless it meets a collapsed form for the first
// time.
func (m *Matcher) Match(path string) string {
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			path = path[:i]
			break
		}
	}
	if path == "" || path[0] != '/' {
		return metricnames.RouteUnmatched
	}
	if s, ok := m.table.Load().Match(path); ok {
		return s
	}
	var buf [MaxCollapsedLen]byte
	b := collapse(buf[:0], path)
	if s, ok := (*m.read.Load())[string(b)]; ok {
		return s
	}
	if m.full.Load() {
		m.overflows.Add(1)
		return metricnames.RouteOther
	}
	return m.intern(b)
}

// intern is the slow path of Match, for a collapsed form not in read.
func (m *Matcher) intern(b []byte) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.dirty[string(b)]; ok {
		// Copy dirty to read once the lookups that missed read have cost
		// as much as the copy, as sync.Map does.
		m.misses++
		if m.misses >= len(m.dirty) {
			m.promote()
		}
		return s
	}
	if len(m.dirty) >= m.max {
		m.overflows.Add(1)
		return metricnames.RouteOther
	}
	s := string(b)
	m.dirty[s] = s
	if len(m.dirty) >= m.max {
		// From now on read is complete, so that a flood of new paths
		// never takes the lock.
		m.promote()
		m.full.Store(true)
	}
	return s
}

// promote publishes a copy of dirty as read. m.mu must be held.
func (m *Matcher) promote() {
	r := make(map[string]string, len(m.dirty))
	for k, v := range m.dirty {
		r[k] = v
	}
	m.read.Store(&r)
	m.misses = 0
}
