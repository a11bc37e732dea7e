package recorder

import (
	"sync"
	"time"
)

// limiter is a token bucket per route and status. Routes are templates and
// statuses three digits, so the keys are few; past max they share one
// bucket rather than grow the map.
type limiter struct {
	rate, burst float64
	max         int

	mu       sync.Mutex
	buckets  map[limitKey]*bucket
	overflow bucket
}

type limitKey struct {
	route  string
	status int
}

// bucket's zero value is full: the first refill sees a long idle time.
type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64, max int) *limiter {
	return &limiter{rate: rate, burst: burst, max: max, buckets: make(map[limitKey]*bucket)}
}

// allow takes a token from the bucket of route and status, if it has one.
func (l *limiter) allow(route string, status int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limitKey{route, status}
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= l.max {
			b = &l.overflow
		} else {
			b = &bucket{}
			l.buckets[k] = b
		}
	}
	if b.last.IsZero() {
		b.tokens, b.last = l.burst, now
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
