package tracing

import "testing"

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port int
	}{
		{"example.com:8080", "example.com", 8080},
		{"example.com", "example.com", 0},
		{"127.0.0.1:40000", "127.0.0.1", 40000},
		{"[::1]:443", "::1", 443},
		{"[::1]", "::1", 0},
		{"::1", "::1", 0},
		{"host:notaport", "host", 0},
		{"", "", 0},
		{"[broken", "[broken", 0},
	} {
		host, port := splitHostPort(tc.in)
		if host != tc.host || port != tc.port {
			t.Errorf("splitHostPort(%q) = %q, %d; want %q, %d", tc.in, host, port, tc.host, tc.port)
		}
	}
	if n := testing.AllocsPerRun(100, func() { splitHostPort("[::1]:443") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "QUERY": "QUERY", "get": MethodOther, "BREW": MethodOther} {
		if got, known := Method(in); got != want || known != (want != MethodOther) {
			t.Errorf("Method(%q) = %q, %v", in, got, known)
		}
	}
}
