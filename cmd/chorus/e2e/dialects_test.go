package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/worker/job"
)

// The worker binary against the reference server answering in the real
// dialects, one per protocol: a Triton model (TEXT → raw logits, names read
// from Triton's metadata), Vertex AI tabular ({scores, classes} for
// instances of one named column) and TEI (with /info). Every job is scored
// by every model it is routed to, none partial, each model's version
// recorded.
func TestRealDialectsThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	for _, tc := range []struct {
		name    string
		dialect modelserver.OpenInferenceDialect
		oi      string // the open_inference blocks of the two models
		oiTopic string
	}{
		{"triton", modelserver.OIPTriton,
			"{output: {format: logits, activation: softmax}}", "{output: {format: logits, activation: sigmoid}}"},
		// KServe's Hugging Face runtime describes no tensors: the input
		// is named, the output is the answer's only one.
		{"kserve-hf", modelserver.OIPKServeHF,
			"{input: {name: input-0}, output: {format: hf_probabilities}}", "{input: {name: input-0}, output: {format: hf_probabilities}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testDialects(t, tc.dialect, tc.oi, tc.oiTopic)
		})
	}
}

func testDialects(t *testing.T, dialect modelserver.OpenInferenceDialect, oi, oiTopic string) {
	addr := referenceModelsWith(t, modelserver.Options{Dialects: modelserver.Dialects{
		OpenInference: dialect, Vertex: modelserver.VertexTabular, TEI: modelserver.TEI,
	}})

	dir := t.TempDir()
	in, out := filepath.Join(dir, "jobs.jsonl"), filepath.Join(dir, "results.jsonl")
	texts := []string{
		"The app is slow since the update and support never answered.",
		"Love the new dashboard, onboarding was painless.",
		"Got charged twice this month, please fix billing.",
		"The Salesforce integration keeps failing on the iPhone app.",
	}
	var lines []string
	const n = 40
	for i := range n {
		tenant := "globex"
		if i%4 == 0 {
			tenant = "acme"
		}
		b, _ := json.Marshal(job.Job{ResponseID: fmt.Sprintf("r-%d", i), Tenant: tenant, Text: texts[i%len(texts)]})
		lines = append(lines, string(b))
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
source: {type: file, file: {path: %[2]q}}
sink: {type: file, file: {path: %[3]q}}
models:
  - name: sentiment-nb
    protocol: open-inference
    url: "http://%[1]s"
    labels: [negative, positive]
    open_inference: %[4]s
  - name: sentiment-vader
    protocol: vertex
    url: "http://%[1]s"
    labels: [negative, neutral, positive]
    vertex: {instance: key, instance_key: text, prediction: scores_classes}
  - name: topics
    protocol: open-inference
    url: "http://%[1]s"
    labels: [pricing, support, reliability, performance, usability, features, billing, onboarding]
    open_inference: %[5]s
  - name: acme-topics
    protocol: tei
    url: "http://%[1]s/tei/acme-topics"
    labels: [integrations, mobile-app]
    tenants: [acme]
pipelines:
  - name: default
    version: "2026-12-03.1"
    sentiment: {models: [{model: sentiment-nb}, {model: sentiment-vader}]}
    topics: {models: [{model: topics}, {model: acme-topics, precedence: true}]}
tenants:
  - {name: acme, pipeline: default}
  - {name: globex, pipeline: default}
`, addr, in, out, oi, oiTopic)
	p := startChorus(t, cfg, nil, "run")
	if code := p.wait(90 * time.Second); code != 0 {
		t.Fatalf("chorus run: exit %d\n%s", code, tailOf(p.out.String()))
	}
	rows, err := filesink.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d\n%s", len(rows), n, tailOf(p.out.String()))
	}
	for _, r := range rows {
		want := []string{"sentiment-nb", "sentiment-vader", "topics"}
		if r.Tenant == "acme" {
			want = append(want, "acme-topics")
		}
		if r.Partial {
			t.Errorf("row %s partial: a model failed in its real dialect", r.ResponseID)
		}
		for _, m := range want {
			if _, ok := r.ModelVersions[m]; !ok {
				t.Errorf("row %s has no version for %s: %v", r.ResponseID, m, r.ModelVersions)
			}
		}
		if r.SentimentLabel == "" {
			t.Errorf("row %s has no sentiment", r.ResponseID)
		}
	}
}
