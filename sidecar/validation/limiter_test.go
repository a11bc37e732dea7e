package validation

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

func TestLimiterClean(t *testing.T) {
	l := NewLimiter(0, 0)
	tests := []struct{ in, want string }{
		{"body.price", "body.price"},
		{"body.items.*.price", "body.items.*.price"},
		{"header.x token", "header.x token"},
		{"", Unknown},
		{Unknown, Unknown},
		{"body.caf\u00e9", "body.caf_"},
		{"body.\u65e5\u672c", "body.__"},
		{"body.a\x00b\nc\x7f", "body.a_b_c_"},
		{"body.\xff\xfe", "body.__"},
		{strings.Repeat("a", 500), strings.Repeat("a", MaxValueLen)},
		{strings.Repeat("\u00e9", 500), strings.Repeat("_", MaxValueLen)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := l.Location(tt.in); got != tt.want {
				t.Errorf("Location(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLimiterCaps(t *testing.T) {
	l := NewLimiter(3, 2)
	for i := range 3 {
		loc := fmt.Sprintf("body.f%d", i)
		if got := l.Location(loc); got != loc {
			t.Fatalf("Location(%q) = %q under the cap", loc, got)
		}
	}
	if got := l.Location("body.f9"); got != metricnames.ValueOther {
		t.Errorf("Location past the cap = %q, want %q", got, metricnames.ValueOther)
	}
	// Known values, and Unknown, still pass.
	for _, loc := range []string{"body.f0", "body.f2", "", Unknown} {
		if got := l.Location(loc); got == metricnames.ValueOther {
			t.Errorf("Location(%q) = %q past the cap", loc, got)
		}
	}
	// Types have their own cap.
	for _, typ := range []string{"missing", "int_parsing", "missing"} {
		if got := l.Type(typ); got != typ {
			t.Errorf("Type(%q) = %q", typ, got)
		}
	}
	if got := l.Type("string_type"); got != metricnames.ValueOther {
		t.Errorf("Type past the cap = %q", got)
	}
	// Values that clean to the same string are one value.
	l2 := NewLimiter(1, 1)
	if a, b := l2.Location("body.\x01"), l2.Location("body.\x02"); a != "body._" || b != "body._" {
		t.Errorf("cleaned values: %q, %q", a, b)
	}
	if got := l.Overflows(); got != 2 {
		t.Errorf("Overflows() = %d, want 2", got)
	}
}

func TestLimiterBoundsHostileInput(t *testing.T) {
	l := NewLimiter(20, 10)
	seen := map[string]bool{}
	for i := range 1000 {
		// A pydantic Dict[str, int] body puts client keys in "loc".
		body := fmt.Sprintf(`{"detail":[{"loc":["body","key-%d\u0000\u00ff%s"],"type":"int_parsing"}]}`, i, strings.Repeat("x", i))
		if _, err := Parse([]byte(body), func(loc, typ string) {
			seen[l.Location(loc)] = true
			seen[l.Type(typ)] = true
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) > 20+1+1 {
		t.Errorf("%d distinct values, want at most 22", len(seen))
	}
	for v := range seen {
		if len(v) > MaxValueLen {
			t.Errorf("value %q longer than %d", v, MaxValueLen)
		}
	}
}

func TestLimiterDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := NewLimiter(0, 0)
	for _, s := range []string{"body.price", "body.\u00e9", strings.Repeat("z", 300)} {
		l.Location(s)
		if n := testing.AllocsPerRun(100, func() { l.Location(s) }); n != 0 {
			t.Errorf("Location(%q) allocates %v times once known", s, n)
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(50, 50)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.Location(fmt.Sprintf("body.f%d", (g*500+i)%80))
				l.Type("missing")
			}
		})
	}
	wg.Wait()
	if n := len(l.locations.m); n != 50 {
		t.Errorf("%d locations kept, want 50", n)
	}
	if got := l.Overflows(); got != 8*500*30/80 {
		t.Errorf("Overflows() = %d, want %d", got, 8*500*30/80)
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := NewLimiter(0, 0)
	l.Location("body.items.*.price")
	b.Run("known", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Location("body.items.*.price")
		}
	})
	b.Run("known-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Location("body.items.*.price")
			}
		})
	})
}
