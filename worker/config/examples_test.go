package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const examplesDir = "../../deploy/examples"

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	// What the examples' auth settings name.
	getenv := env(map[string]string{
		"CHORUS_MODELS_TOKEN":   "test-token",
		"CHORUS_MODELS_API_KEY": "test-key",
	})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f, getenv); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The demo's shape is relied on by `chorus demo`; pin what it promises.
func TestDemoExample(t *testing.T) {
	c, err := Load(filepath.Join(examplesDir, "demo.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.Type != "memory" || c.Sink.Type != "file" || c.Sink.File.Path != "chorus-out/results.jsonl" {
		t.Errorf("source/sink: %+v %+v", c.Source, c.Sink)
	}
	protocols := map[string]string{}
	for _, m := range c.Models {
		protocols[m.Name] = m.Protocol
	}
	want := map[string]string{"sentiment-vader": "vertex", "sentiment-nb": "open-inference", "topics": "open-inference", "acme-topics": "tei", "hooli-llm-tags": "openai"}
	if !equal(protocols, want) {
		t.Errorf("models: got %v, want %v", protocols, want)
	}
	if len(c.Pipelines) != 1 || c.Pipelines[0].Name != "default" || c.Pipelines[0].Version != "2026-11-25.1" || c.Pipelines[0].Quorum != 2 {
		t.Errorf("pipeline: %+v", c.Pipelines)
	}
	if len(c.Tenants) != 4 {
		t.Errorf("tenants: %+v", c.Tenants)
	}
}

// full-reference.yaml is the field documentation: it must show every field
// and every environment override, so adding one without documenting it
// fails here.
func TestFullReferenceCoversEverything(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(examplesDir, "full-reference.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	lines, err := decode(data, &c, maxNodes)
	if err != nil {
		t.Fatal(err)
	}
	index := regexp.MustCompile(`\[\d+\]`)
	shown := map[string]bool{}
	for p := range lines {
		shown[index.ReplaceAllString(p, "[]")] = true
	}
	for _, p := range fieldPaths(reflect.TypeFor[Config](), "") {
		// backfill_source has source's shape, documented once there.
		if rest, ok := strings.CutPrefix(p, "backfill_source."); ok && shown["backfill_source"] && shown["source."+rest] {
			continue
		}
		if !shown[p] {
			t.Errorf("full-reference.yaml does not show %s", p)
		}
	}
	for _, o := range EnvOverrides() {
		if !strings.Contains(string(data), o.Var) {
			t.Errorf("full-reference.yaml does not document %s", o.Var)
		}
	}
}

// fieldPaths lists every YAML field path of t, with [] for list items.
func fieldPaths(t reflect.Type, path string) []string {
	var out []string
	for name, i := range yamlFields(t) {
		p := join(path, name)
		out = append(out, p)
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft, p = ft.Elem(), p+"[]"
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, fieldPaths(ft, p)...)
		}
	}
	return out
}
