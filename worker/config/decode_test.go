package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRejectsUnknownFields(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string // an edit to baseYAML
		want    string    // the whole FieldError text
	}{
		{"top level",
			[2]string{"source:\n", "sources: {}\nsource:\n"},
			`unknown field "sources", did you mean "source"? (line 2)`},
		{"nested mapping",
			[2]string{"  file:\n    path: out.jsonl\n", "  file:\n    path: out.jsonl\n    fsync: true\n"},
			`sink.file: unknown field "fsync" (line 8)`},
		{"in a list item",
			[2]string{"    labels: [mobile-app]\n", "    labels: [mobile-app]\n    batch:\n      max_item: 8\n"},
			`models[2].batch: unknown field "max_item", did you mean "max_items"? (line 22)`},
		{"deep in a pipeline",
			[2]string{"        - model: topics\n", "        - model: topics\n          wieght: 2\n"},
			`pipelines[0].topics.models[0]: unknown field "wieght", did you mean "weight"? (line 31)`},
		{"in a pointer struct",
			[2]string{"        - model: sentiment-nb\n", "        - model: sentiment-nb\n          calibration: {scale: 1, offset: 2}\n"},
			`pipelines[0].sentiment.models[0].calibration: unknown field "offset" (line 28)`},
		{"in a tenant",
			[2]string{"  - name: globex\n", "  - name: globex\n    pipe: x\n"},
			`tenants[1]: unknown field "pipe" (line 37)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(baseYAML, tt.replace[0], tt.replace[1], 1)
			if yaml == baseYAML {
				t.Fatal("edit did not apply")
			}
			_, err := Parse([]byte(yaml), nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"int", "worker: {pullers: two}", "worker.pullers", `expected an integer, got "two"`},
		{"int given a list", "worker: {pullers: [1]}", "worker.pullers", "expected an integer, got a list"},
		{"bare number duration", "worker: {drain_timeout: 30}", "worker.drain_timeout", `expected a duration like "5ms" or "30s", got "30"`},
		{"bad duration", "worker: {drain_timeout: soon}", "worker.drain_timeout", `got "soon"`},
		{"byte size unit", "limits: {max_message_bytes: 10M}", "limits.max_message_bytes", `unknown unit "M"`},
		{"byte size fraction", "limits: {max_message_bytes: 1.5MiB}", "limits.max_message_bytes", "fractions are not supported"},
		{"number", "pipelines: [{topics: {threshold: high}}]", "pipelines[0].topics.threshold", `expected a number, got "high"`},
		{"bool", "models: [{tls: {insecure_skip_verify: maybe}}]", "models[0].tls.insecure_skip_verify", "expected true or false"},
		{"string given a mapping", "source: {type: {name: file}}", "source.type", "expected a string, got a mapping"},
		{"list given a scalar", "models: sentiment", "models", `expected a list, got "sentiment"`},
		{"struct given a list", "worker: [1]", "worker", "expected a mapping, got a list"},
		{"map given a scalar", "models: [{auth: {headers: x}}]", "models[0].auth.headers", `expected a mapping, got "x"`},
		{"duplicate key", "source:\n  type: file\n  type: memory", "source", `duplicate key "type"`},
		{"document not a mapping", "- a\n- b", "", "expected a mapping, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), nil)
			wantProblem(t, err, tt.path, tt.msg)
		})
	}
}

func TestParseReportsAllDecodeErrorsAtOnce(t *testing.T) {
	yaml := "worker:\n  pullers: x\n  recieve_batch: 1\nsink:\n  file:\n    paht: y\n"
	es := asErrors(func() error { _, err := Parse([]byte(yaml), nil); return err }())
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	want := []string{
		`worker.pullers: expected an integer, got "x" (line 2)`,
		`worker: unknown field "recieve_batch", did you mean "receive_batch"? (line 3)`,
		`sink.file: unknown field "paht", did you mean "path"? (line 6)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse([]byte("source:\n  type: [memory\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "parse YAML") {
		t.Fatalf("got %v, want a YAML syntax error", err)
	}
}

func TestParseValues(t *testing.T) {
	yaml := strings.Replace(baseYAML, "source:\n", `worker:
  max_outstanding_bytes: 128MiB
  drain_timeout: 1m30s
  nack_backoff: {initial: 250ms}
limits:
  max_text_bytes: 4096
  max_message_bytes: 2 MB
source:
`, 1)
	c := mustParse(t, yaml, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"bytes with IEC unit", c.Worker.MaxOutstandingBytes, 128 << 20},
		{"bytes plain", c.Limits.MaxTextBytes, 4096},
		{"bytes with SI unit and space", c.Limits.MaxMessageBytes, 2_000_000},
		{"duration", c.Worker.DrainTimeout, 90 * time.Second},
		{"nested duration", c.Worker.NackBackoff.Initial, 250 * time.Millisecond},
		{"flow list", c.Models[2].Tenants, []string{"acme"}},
		{"bool", c.Pipelines[0].Topics.Models[1].Precedence, true},
	}
	for _, ck := range checks {
		if !equal(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// Anchors and merge keys let a file share settings between models.
func TestParseAnchorsAndMerge(t *testing.T) {
	yaml := strings.Replace(baseYAML, "  - name: sentiment-nb\n", `  - &shared
    name: shared
    protocol: vertex
    url: http://vertex:8080
    labels: [negative, positive]
    timeout: 3s
    batch: &batch {max_items: 8, linger: 2ms}
  - <<: *shared
    name: shared-b
    timeout: 4s
    batch:
      <<: *batch
      max_items: 16
  - name: sentiment-nb
`, 1)
	c := mustParse(t, yaml, nil)
	b := c.Models[1]
	if b.Name != "shared-b" || b.Protocol != "vertex" || b.URL != "http://vertex:8080" {
		t.Errorf("merged fields: got name %q protocol %q url %q", b.Name, b.Protocol, b.URL)
	}
	if b.Timeout != 4*time.Second {
		t.Errorf("own field must override merged: timeout %v", b.Timeout)
	}
	if b.Batch.MaxItems != 16 || b.Batch.Linger != 2*time.Millisecond {
		t.Errorf("nested merge: got %+v", b.Batch)
	}
	if c.Models[0].Batch.MaxItems != 8 {
		t.Errorf("anchor source changed: %+v", c.Models[0].Batch)
	}
}

func TestParseNullIsAbsent(t *testing.T) {
	yaml := strings.Replace(baseYAML, "source:\n", "worker:\n  pullers: ~\nsource:\n", 1)
	c := mustParse(t, yaml, nil)
	if c.Worker.Pullers != defaultPullers {
		t.Errorf("pullers: got %d, want the default %d", c.Worker.Pullers, defaultPullers)
	}
}

// Aliases multiply what is walked; a small file must not expand without
// bound. Here 100 aliases of a model with 100 labels pass the limit.
func TestDecodeAliasBomb(t *testing.T) {
	labels := strings.Repeat("x, ", 99) + "x"
	yaml := "models:\n  - &m {name: m, labels: [" + labels + "]}\n" + strings.Repeat("  - *m\n", 100)
	var c Config
	if _, err := decode([]byte(yaml), &c, 20000); err != nil {
		t.Fatalf("decode under the limit: %v", err)
	}
	_, err := decode([]byte(yaml), &c, 5000)
	if err == nil || !strings.Contains(err.Error(), "document too large: over 5000 nodes") {
		t.Fatalf("got %.200v, want a size error", err)
	}
}

// Merge keys copy a mapping's entries: nested "<<: [*b, *b, …]" grows by a
// factor per level, and the node guard must count those copies too. This
// file is about 1 KB and would expand to 10^12 entries.
func TestDecodeMergeKeyBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1, y: 2}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("worker: {<<: *a12}\n")
	var c Config
	_, err := decode([]byte(b.String()), &c, maxNodes)
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("got %.200v, want a size error", err)
	}
}

// FuzzParse: no config text may crash the parser, hang it, or make it
// accept a config that fails validation.
func FuzzParse(f *testing.F) {
	f.Add([]byte(baseYAML))
	f.Add([]byte("worker: {<<: [*a]}\n"))
	f.Add([]byte("models:\n  - &m {name: m}\n  - *m\n"))
	if data, err := os.ReadFile(filepath.Join(examplesDir, "full-reference.yaml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		c, err := Parse(data, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
	})
}
