package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 3 || o.duration != 10*time.Second || o.latencyDuration != 5*time.Second || o.connections != 64 || o.targets != nil {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseOptions([]string{"--rounds", "1", "--duration", "2.4s", "--targets", "nginx, faultline", "--faultline-variant", "v=--capture ''"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != 2*time.Second || len(o.targets) != 2 || o.targets[1] != "faultline" || len(o.variants) != 1 {
		t.Errorf("parsed = %+v", o)
	}

	bad := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"--duration", "500ms"}, "--duration"},
		{[]string{"--latency-duration", "0s"}, "--latency-duration"},
		{[]string{"--connections", "0"}, "--connections"},
		{[]string{"--path", "items"}, "--path"},
		{[]string{"--targets", "envoy"}, "unknown target"},
		{[]string{"--faultline-variant", "nginx=x"}, "built-in"},
		{[]string{"stray"}, "unexpected argument"},
	}
	for _, tt := range bad {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseOptions(tt.args, io.Discard)
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v (%T), want a usageError mentioning %q", err, err, tt.wantErr)
			}
		})
	}
}
