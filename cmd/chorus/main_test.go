package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("source: {type: kafka}\nsink: {type: file, file: {path: x}}\nmodels: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int // 0 ok, else the exitError code
		wantOut  string
	}{
		{"version", []string{"version"}, 0, "chorus "},
		{"help", []string{"help"}, 0, "Usage:"},
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"validate example", []string{"config", "validate", "../../deploy/examples/file-worker.yaml"}, 0, "ok (2 models"},
		{"validate demo", []string{"config", "validate", "../../deploy/examples/demo.yaml"}, 0, "ok (5 models"},
		{"validate bad", []string{"config", "validate", bad}, 2, `source.type: got "kafka"`},
		{"run without config", []string{"run"}, 2, "--config"},
		{"models without verb", []string{"models"}, 2, "serve"},
		{"serve unknown model", []string{"models", "serve", "--addr", "127.0.0.1:0", "--models", "nope"}, 2, `no reference model named "nope"`},
		{"serve unknown dialect", []string{"models", "serve", "--addr", "127.0.0.1:0", "--dialect", "open-inference=torchserve"}, 2,
			`open-inference dialect "torchserve" is not one of chorus, triton, kserve-hf`},
		{"serve dialect of no protocol", []string{"models", "serve", "--addr", "127.0.0.1:0", "--dialect", "grpc=triton"}, 2, `unknown protocol "grpc"`},
		{"serve help lists dialects", []string{"models", "serve", "-h"}, 1, "vertex: automl, tabular, tf-serving"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := dispatch(context.Background(), tc.args, &out, &errOut)
			code := 0
			if err != nil {
				code = 1
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.code
				}
			}
			all := out.String() + errOut.String()
			if err != nil {
				all += err.Error()
			}
			if code != tc.wantCode || !strings.Contains(all, tc.wantOut) {
				t.Fatalf("code %d, output %q; want code %d and %q", code, all, tc.wantCode, tc.wantOut)
			}
		})
	}
}
