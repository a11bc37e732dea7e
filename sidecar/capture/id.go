package capture

import (
	"crypto/rand"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet: digits and upper-case letters
// without I, L, O and U, so that IDs survive being read aloud or retyped.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of a capture ID.
const IDLen = 26

// maxIDMillis is the largest timestamp an ID can hold (48 bits).
const maxIDMillis = 1<<48 - 1

// idState is the last ID made, so that the next one can be made larger.
var idState struct {
	mu   sync.Mutex
	ms   uint64
	rnd  [10]byte
	used bool
}

// NewID returns a new capture ID for time t, in the ULID layout: a 48-bit
// Unix millisecond timestamp followed by 80 random bits, written as 26
// characters of Crockford base32. IDs compare as strings in time order.
//
// IDs made by one process are strictly increasing: within one millisecond,
// or when t is earlier than the previous ID's time (a clock step back, or
// captures offered out of order), the previous ID's random part is
// incremented instead of drawn anew, and the previous timestamp is kept.
// NewID is safe for concurrent use.
func NewID(t time.Time) string {
	ms := uint64(0)
	if m := t.UnixMilli(); m > 0 {
		ms = min(uint64(m), maxIDMillis)
	}
	idState.mu.Lock()
	if idState.used && ms <= idState.ms {
		ms = idState.ms
		if !increment(&idState.rnd) && ms < maxIDMillis {
			// 2^80 IDs in one millisecond: borrow the next one.
			ms++
			rand.Read(idState.rnd[:])
		}
	} else {
		rand.Read(idState.rnd[:])
	}
	idState.ms, idState.used = ms, true
	var b [IDLen]byte
	encodeID(&b, ms, &idState.rnd)
	idState.mu.Unlock()
	return string(b[:])
}

// increment adds one to the big-endian number r and reports false when it
// wrapped around to zero.
func increment(r *[10]byte) bool {
	for i := len(r) - 1; i >= 0; i-- {
		r[i]++
		if r[i] != 0 {
			return true
		}
	}
	return false
}

func encodeID(b *[IDLen]byte, ms uint64, rnd *[10]byte) {
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	// 80 random bits are 16 characters of 5 bits, most significant first.
	var acc uint32
	bits := 0
	j := 10
	for _, x := range rnd {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			b[j] = crockford[(acc>>bits)&31]
			j++
		}
	}
}

// decodeChar returns the value of one canonical ID character, or -1.
func decodeChar(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		for i := 10; i < len(crockford); i++ {
			if crockford[i] == c {
				return i
			}
		}
	}
	return -1
}

// ValidID reports whether id is a capture ID in canonical form: 26
// upper-case Crockford base32 characters whose timestamp fits 48 bits.
func ValidID(id string) bool {
	if len(id) != IDLen || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if decodeChar(id[i]) < 0 {
			return false
		}
	}
	return true
}

// IDTime returns the time, to the millisecond, held by a valid ID, and false
// for an invalid one.
func IDTime(id string) (time.Time, bool) {
	if !ValidID(id) {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < 10; i++ {
		ms = ms<<5 | int64(decodeChar(id[i]))
	}
	return time.UnixMilli(ms).UTC(), true
}
