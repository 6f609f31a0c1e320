package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// baseYAML is a small valid config that the tests vary.
const baseYAML = `
source:
  type: memory
sink:
  type: file
  file:
    path: out.jsonl
models:
  - name: sentiment-nb
    protocol: open-inference
    url: http://127.0.0.1:8500
    labels: [negative, positive]
  - name: topics
    protocol: open-inference
    url: http://127.0.0.1:8500
    labels: [pricing, billing]
  - name: acme-topics
    protocol: tei
    url: http://127.0.0.1:8500/tei/acme-topics
    labels: [mobile-app]
    tenants: [acme]
pipelines:
  - name: default
    version: "1"
    sentiment:
      models:
        - model: sentiment-nb
    topics:
      models:
        - model: topics
        - model: acme-topics
          precedence: true
tenants:
  - name: acme
    pipeline: default
  - name: globex
    pipeline: default
`

// env returns a getenv over a fixed map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func mustParse(t *testing.T, yaml string, getenv func(string) string) *Config {
	t.Helper()
	c, err := Parse([]byte(yaml), getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// wantProblem fails unless err lists a problem at path whose message
// contains msg.
func wantProblem(t *testing.T, err error, path, msg string) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want an Errors with %s: …%s…", err, path, msg)
	}
	for _, e := range es {
		if e.Path == path && strings.Contains(e.Err.Error(), msg) {
			return
		}
	}
	t.Errorf("no problem at %s containing %q in:\n%v", path, msg, err)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }
