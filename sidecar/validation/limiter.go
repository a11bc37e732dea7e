package validation

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Defaults of NewLimiter.
const (
	DefaultMaxLocations = 100
	DefaultMaxTypes     = 50
)

// MaxValueLen is the longest label value a Limiter returns, in bytes.
const MaxValueLen = 128

// A Limiter bounds the location and type label values of validation
// errors. It is safe for concurrent use; the zero Limiter is not usable,
// use NewLimiter.
//
// Each value is first cleaned: a rune outside printable ASCII (space to
// "~") becomes "_", an invalid UTF-8 byte too, and the result is cut to
// MaxValueLen bytes, so that a hostile body cannot put control
// characters, invalid UTF-8 or megabytes into a label. The empty string
// becomes Unknown. The first distinct values are kept, up to the cap;
// after that a new value is metricnames.ValueOther. Unknown never counts
// against the cap.
type Limiter struct {
	locations, types valueSet
	overflows        atomic.Uint64
}

// NewLimiter returns a Limiter that keeps at most maxLocations distinct
// locations and maxTypes distinct types; zero or less means
// DefaultMaxLocations and DefaultMaxTypes.
func NewLimiter(maxLocations, maxTypes int) *Limiter {
	if maxLocations <= 0 {
		maxLocations = DefaultMaxLocations
	}
	if maxTypes <= 0 {
		maxTypes = DefaultMaxTypes
	}
	return &Limiter{
		locations: valueSet{max: maxLocations, m: map[string]string{}},
		types:     valueSet{max: maxTypes, m: map[string]string{}},
	}
}

// Location returns the label value for the location s.
func (l *Limiter) Location(s string) string { return l.value(&l.locations, s) }

// Type returns the label value for the error type s.
func (l *Limiter) Type(s string) string { return l.value(&l.types, s) }

// Overflows returns how many values were replaced by
// metricnames.ValueOther because a cap had been reached.
func (l *Limiter) Overflows() uint64 { return l.overflows.Load() }

func (l *Limiter) value(set *valueSet, s string) string {
	var buf [MaxValueLen]byte
	b := clean(buf[:0], s)
	if len(b) == 0 || string(b) == Unknown {
		return Unknown
	}
	v, ok := set.get(b)
	if !ok {
		l.overflows.Add(1)
		return metricnames.ValueOther
	}
	return v
}

// valueSet is a set of at most max strings.
type valueSet struct {
	mu  sync.RWMutex
	max int
	m   map[string]string
}

// get returns the set's copy of b, adding it if there is room.
func (v *valueSet) get(b []byte) (string, bool) {
	v.mu.RLock()
	s, ok := v.m[string(b)]
	v.mu.RUnlock()
	if ok {
		return s, true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.m[string(b)]; ok {
		return s, true
	}
	if len(v.m) >= v.max {
		return "", false
	}
	s = string(b)
	v.m[s] = s
	return s, true
}

// clean appends s to dst with each rune outside printable ASCII, and each
// invalid byte, replaced by "_", stopping at MaxValueLen bytes.
func clean(dst []byte, s string) []byte {
	for i := 0; i < len(s) && len(dst) < MaxValueLen; {
		c := s[i]
		if ' ' <= c && c <= '~' {
			dst = append(dst, c)
			i++
			continue
		}
		dst = append(dst, '_')
		if c < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return dst
}
