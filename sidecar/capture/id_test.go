package capture

import (
	"sync"
	"testing"
	"time"
)

func TestEncodeIDKnownVector(t *testing.T) {
	// The ULID specification's example timestamp.
	var b [IDLen]byte
	var rnd [10]byte
	encodeID(&b, 1469922850259, &rnd)
	if got := string(b[:10]); got != "01ARZ3NDEK" {
		t.Errorf("timestamp part %q, want 01ARZ3NDEK", got)
	}
	for i := range rnd {
		rnd[i] = 0xff
	}
	encodeID(&b, maxIDMillis, &rnd)
	if got := string(b[:]); got != "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" {
		t.Errorf("max ID %q", got)
	}
}

func TestNewIDOrderAndTime(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	prev := NewID(at)
	if !ValidID(prev) {
		t.Fatalf("invalid ID %q", prev)
	}
	if got, _ := IDTime(prev); !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("IDTime = %v, want %v", got, at.Truncate(time.Millisecond))
	}
	steps := []struct {
		name string
		at   time.Time
	}{
		{"same millisecond", at},
		{"same millisecond again", at.Add(time.Microsecond)},
		{"clock stepped back", at.Add(-time.Hour)},
		{"later", at.Add(time.Second)},
		{"before the epoch", time.Unix(-5, 0)},
	}
	for _, s := range steps {
		id := NewID(s.at)
		if id <= prev {
			t.Errorf("%s: %q is not after %q", s.name, id, prev)
		}
		if !ValidID(id) {
			t.Errorf("%s: invalid ID %q", s.name, id)
		}
		prev = id
	}
}

func TestNewIDUniqueUnderConcurrency(t *testing.T) {
	const goroutines, each = 8, 2000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	at := time.Now()
	for range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = NewID(at)
				if i > 0 && ids[i] <= ids[i-1] {
					t.Errorf("not increasing within a goroutine: %q then %q", ids[i-1], ids[i])
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("duplicate ID %q", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}

func TestValidID(t *testing.T) {
	good := NewID(time.Now())
	tests := []struct {
		id   string
		want bool
	}{
		{good, true},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", true},
		{"01arz3ndektsv4rrffq69g5fav", false}, // canonical form only
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAVX", false},
		{"81ARZ3NDEKTSV4RRFFQ69G5FAV", false}, // past 48 bits
		{"01ARZ3NDEKTSV4RRFFQ69G5FAI", false},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAU", false},
		{"../../../etc/passwd0000000", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	at := time.Now()
	for b.Loop() {
		NewID(at)
	}
}
