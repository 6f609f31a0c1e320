package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"512B", 512, ""},
		{"1KB", 1000, ""},
		{"1kb", 1000, ""},
		{"1MB", 1_000_000, ""},
		{"2GB", 2_000_000_000, ""},
		{"1KiB", 1024, ""},
		{"64MiB", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"-1", -1, ""}, // validation, not parsing, rejects it
		{"", 0, "not a whole number"},
		{"MiB", 0, "not a whole number"},
		{"1.5MiB", 0, "fractions are not supported"},
		{"10M", 0, `unknown unit "M"`},
		{"10 parsecs", 0, "unknown unit"},
		{"9999999999TiB", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %d, %v; want error containing %q", got, err, tt.wantErr)
			case got != tt.want:
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
