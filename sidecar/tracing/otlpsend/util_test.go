package otlpsend

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n        int
		min, max time.Duration // [min, max)
	}{
		{1, 500 * time.Millisecond, 1500 * time.Millisecond},
		{2, time.Second, 3 * time.Second},
		{3, 2 * time.Second, 6 * time.Second},
		{4, 2500 * time.Millisecond, 7500 * time.Millisecond}, // capped at 5s
		{60, 2500 * time.Millisecond, 7500 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 100 {
			if d := backoff(tt.n, defaultInitialBackoff, defaultMaxBackoff); d < tt.min || d >= tt.max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", tt.n, d, tt.min, tt.max)
			}
		}
	}
	if d := backoff(3, 0, 0); d != 0 {
		t.Errorf("backoff with no interval = %v, want 0", d)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := newRedactor(map[string]string{
		"authorization": "Bearer abcdefgh12345678",
		"x-tenant":      "blue",
		"x-empty":       "  ",
	})
	tests := []struct{ in, want string }{
		{"bad header Bearer abcdefgh12345678", "bad header [REDACTED]"},
		{"token abcdefgh12345678 expired", "token [REDACTED] expired"},
		{"tenant blue unknown", "tenant [REDACTED] unknown"},
		{"Bearer is a scheme", "Bearer is a scheme"}, // too short to be the secret
		{"a  b", "a  b"},
	}
	for _, tt := range tests {
		if got := r.apply(tt.in); got != tt.want {
			t.Errorf("apply(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"", 10, ""},
		{"  one\r\n\ttwo  ", 20, "one two"},
		{"bell\a and \xff bad", 30, "bell and bad"},
		{"abcdef", 3, "abc…"},
		{"héllo", 2, "h…"}, // never half a rune
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.max); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
	if got := clip(strings.Repeat("x", 1000), maxExcerpt); len(got) > maxExcerpt+len("…") {
		t.Errorf("clip kept %d bytes", len(got))
	}
}
