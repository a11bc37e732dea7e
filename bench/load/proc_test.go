package main

import "testing"

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{
			name: "nginx worker",
			in:   "4242 (nginx) S 4241 4241 4241 0 -1 4194624 1063 0 0 0 731 412 0 0 20 0 1 0 38291 11063296 1047 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
			want: procStat{pgrp: 4241, utime: 731, stime: 412},
		},
		{
			name: "name with spaces and parentheses",
			in:   "7 (a) b (c)) R 1 99 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
			want: procStat{pgrp: 99, utime: 5, stime: 6},
		},
		{name: "truncated", in: "7 (x) R 1 2 3", wantErr: true},
		{name: "no name", in: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseHWM(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
	}{
		{"present", "Name:\tnginx\nVmPeak:\t  20000 kB\nVmHWM:\t    9876 kB\nVmRSS:\t    5000 kB\n", 9876},
		{"kernel thread", "Name:\tkthreadd\nState:\tS (sleeping)\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseHWM(tt.in); got != tt.want {
				t.Errorf("parseHWM = %d, want %d", got, tt.want)
			}
		})
	}
}
