package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"  a  b\tc ", []string{"a", "b", "c"}, false},
		{`--capture '5xx, 401' --x "a \"b\" c"`, []string{"--capture", "5xx, 401", "--x", `a "b" c`}, false},
		{`a\ b 'it''s'`, []string{"a b", "its"}, false},
		{`''`, []string{""}, false},
		{`'open`, nil, true},
		{`"open`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := splitWords(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("splitWords(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseVariant(t *testing.T) {
	tests := []struct {
		in      string
		want    variant
		wantErr string
	}{
		{in: "nocapture=--capture ''", want: variant{name: "nocapture", args: []string{"--capture", ""}}},
		{in: "trace=OTEL_EXPORTER_OTLP_ENDPOINT={upstream} OTEL_TRACES_SAMPLER=always_on --log-level warn",
			want: variant{name: "trace", env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT={upstream}", "OTEL_TRACES_SAMPLER=always_on"}, args: []string{"--log-level", "warn"}}},
		{in: "same=", want: variant{name: "same"}},
		{in: "noequals", wantErr: "name='args"},
		{in: "Bad=x", wantErr: "name"},
		{in: "nginx=--x", wantErr: "built-in"},
		{in: "q='", wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseVariant(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseVariant error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseVariant = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSelectTargets(t *testing.T) {
	vs := []variant{{name: "trace"}}
	tests := []struct {
		name    string
		want    []string
		expect  []string
		wantErr bool
		tls     bool
	}{
		{"default is all", nil, []string{"direct", "nginx", "haproxy", "caddy", "httputil", "faultline", "trace"}, false, false},
		{"order kept, duplicates dropped", []string{"faultline", "nginx", "faultline", "trace"}, []string{"faultline", "nginx", "trace"}, false, false},
		{"variants run unless named", []string{"nginx", "faultline"}, []string{"nginx", "faultline", "trace"}, false, false},
		{"unknown", []string{"envoy"}, nil, true, false},
		{"TLS twins", []string{"direct", "nginx", "httputil", "faultline"}, []string{"direct", "nginx", "nginx-tls", "httputil", "faultline", "faultline-tls", "trace", "trace-tls"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := selectTargets(tt.want, vs, tt.tls)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			var names []string
			for _, x := range ts {
				names = append(names, x.name)
			}
			if !reflect.DeepEqual(names, tt.expect) {
				t.Errorf("targets = %v, want %v", names, tt.expect)
			}
		})
	}
	if _, err := selectTargets(nil, []variant{{name: "a"}, {name: "a"}}, false); err == nil {
		t.Error("duplicate variant names accepted")
	}
}

func TestServerConfigs(t *testing.T) {
	nginx := nginxConfig("/tmp/x", "127.0.0.1:1001", "127.0.0.1:2002", nil)
	if strings.Contains(nginx, "ssl") {
		t.Error("plain nginx config mentions ssl")
	}
	tlsConf := nginxConfig("/tmp/x", "127.0.0.1:1001", "127.0.0.1:2002", &tlsFiles{cert: "/tmp/x/tls.crt", key: "/tmp/x/tls.key"})
	for _, want := range []string{"listen 127.0.0.1:1001 ssl;", "ssl_certificate /tmp/x/tls.crt;", "ssl_certificate_key /tmp/x/tls.key;"} {
		if !strings.Contains(tlsConf, want) {
			t.Errorf("TLS nginx config lacks %q", want)
		}
	}
	for _, want := range []string{
		"listen 127.0.0.1:1001;", "server 127.0.0.1:2002;", "keepalive 64;", "proxy_http_version 1.1;",
		`proxy_set_header Connection "";`, "access_log off;", "daemon off;", "pid /tmp/x/nginx.pid;", "keepalive_requests 1000000;",
	} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
	haproxy := haproxyConfig("127.0.0.1:1001", "127.0.0.1:2002")
	for _, want := range []string{"mode http", "http-reuse always", "nbthread 2", "bind 127.0.0.1:1001", "server app 127.0.0.1:2002"} {
		if !strings.Contains(haproxy, want) {
			t.Errorf("haproxy config lacks %q", want)
		}
	}
	if strings.Contains(haproxy, "\n    log ") {
		t.Error("haproxy config logs")
	}
	b, err := caddyConfig("127.0.0.1:1001", "127.0.0.1:2002")
	if err != nil {
		t.Fatal(err)
	}
	var caddy struct {
		Admin struct{ Disabled bool } `json:"admin"`
		Apps  struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
					Routes []struct {
						Handle []struct {
							Handler   string              `json:"handler"`
							Upstreams []map[string]string `json:"upstreams"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(b, &caddy); err != nil {
		t.Fatalf("caddy config is not JSON: %v", err)
	}
	srv := caddy.Apps.HTTP.Servers["bench"]
	if !caddy.Admin.Disabled || !reflect.DeepEqual(srv.Listen, []string{"127.0.0.1:1001"}) ||
		len(srv.Routes) != 1 || srv.Routes[0].Handle[0].Handler != "reverse_proxy" || srv.Routes[0].Handle[0].Upstreams[0]["dial"] != "127.0.0.1:2002" {
		t.Errorf("unexpected caddy config:\n%s", b)
	}
}

func TestCleanEnv(t *testing.T) {
	got := cleanEnv([]string{"PATH=/bin", "FAULTLINE_LISTEN=:1", "OTEL_SDK_DISABLED=true", "HOME=/root"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cleanEnv = %q, want %q", got, want)
	}
}
