package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/demo"
	"github.com/chorusml/chorus/sinks"
)

// The demo's promises: every valid job exactly once in results.jsonl with
// sentiment and tags, every bad one dead-lettered with its reason (the
// counts are those of testdata/demo/EXPECTED.md).
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := chorus.Data.ReadFile("deploy/examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var printed bytes.Buffer
	sum, err := demo.Run(ctx, demo.Options{Data: chorus.Data, Config: cfg, OutDir: out, Out: &printed})
	if err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(filepath.Join(out, demo.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[sinks.Key]bool{}
	perTenant := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r sinks.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		if seen[r.Key()] {
			t.Fatalf("job %v appears twice in results.jsonl", r.Key())
		}
		seen[r.Key()] = true
		perTenant[r.Tenant]++
		if r.SentimentLabel == "" || r.ModelVersions["topics"] == "" || r.RunID != demo.RunID {
			t.Fatalf("incomplete result %+v", r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// hooli's 40 are testdata/demo/llm-feedback.jsonl, tagged by the LLM.
	wantTenants := map[string]int{"acme": 953, "globex": 818, "initech": 705, "hooli": 40}
	for tenant, n := range wantTenants {
		if perTenant[tenant] != n {
			t.Errorf("tenant %s: %d results, want %d", tenant, perTenant[tenant], n)
		}
	}
	if len(seen) != 2516 || sum.Committed != 2516 {
		t.Errorf("%d results (summary %d), want 2516", len(seen), sum.Committed)
	}
	// The LLM's token cost is charged to hooli, and only to hooli.
	if len(sum.LLMTokens) != 1 || sum.LLMTokens[0].Tenant != "hooli" || sum.LLMTokens[0].Model != "hooli-llm-tags" ||
		sum.LLMTokens[0].Prompt <= 0 || sum.LLMTokens[0].Completion <= 0 {
		t.Errorf("LLM tokens %+v, want hooli's prompt and completion tokens", sum.LLMTokens)
	}
	wantReasons := map[string]int{"malformed_json": 9, "empty_message": 2, "missing_field": 9, "empty_text": 4, "text_too_long": 2, "unknown_tenant": 10}
	for reason, n := range wantReasons {
		if sum.DeadReasons[reason] != n {
			t.Errorf("dead letters %s: %d, want %d (all: %v)", reason, sum.DeadReasons[reason], n, sum.DeadReasons)
		}
	}
	dl, err := os.ReadFile(filepath.Join(out, demo.DeadLettersFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(dl, []byte("\n")); n != 36 {
		t.Errorf("dead-letters.jsonl has %d lines, want 36", n)
	}
	for _, want := range []string{"Scored 2516 jobs", "acme-topics", "hooli-llm-tags", "LLM tokens billed", "unknown_tenant", "Dead letters by reason"} {
		if !strings.Contains(printed.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, printed.String())
		}
	}
	if _, err := os.Stat(filepath.Join(out, demo.SummaryFile)); err != nil {
		t.Error(err)
	}
}
