package filesink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sinks/sinktest"
	"github.com/chorusml/chorus/worker/errkind"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func line(t *testing.T, r sinks.Result) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestRowValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*sinks.Result)
	}{
		{"empty_tenant", func(r *sinks.Result) { r.Tenant = "" }},
		{"empty_response_id", func(r *sinks.Result) { r.ResponseID = "" }},
		{"empty_pipeline_version", func(r *sinks.Result) { r.PipelineVersion = "" }},
		{"nan_score", func(r *sinks.Result) { r.SentimentScore = math.NaN() }},
		{"infinite_score", func(r *sinks.Result) { r.SentimentScore = math.Inf(-1) }},
		{"nan_tag_score", func(r *sinks.Result) { r.Tags[0].Score = math.NaN() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			path := filepath.Join(t.TempDir(), "out.jsonl")
			s, err := filesink.Open(path, filesink.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			bad := sinktest.Row(1)
			tc.mutate(&bad)
			err = s.Write(ctx, []sinks.Result{sinktest.Row(0), bad})
			re, ok := sinks.AsRowErrors(err)
			if !ok || len(re) != 1 || re[0].Index != 1 {
				t.Fatalf("write = %v, want one row error at index 1", err)
			}
			if errkind.KindOf(re[0].Err) != errkind.InvalidInput {
				t.Errorf("row error kind = %v, want invalid_input", errkind.KindOf(re[0].Err))
			}
			rows, err := filesink.ReadAll(path)
			if err != nil || len(rows) != 1 || rows[0].ResponseID != sinktest.Row(0).ResponseID {
				t.Errorf("read back %d rows (%v), want only the good one", len(rows), err)
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	good := line(t, sinktest.Row(0))
	torn := line(t, sinktest.Row(1))[:40]
	if err := os.WriteFile(path, []byte(good+torn), 0o644); err != nil {
		t.Fatal(err)
	}

	// A reader skips the torn line: its Write never returned nil.
	rows, err := filesink.ReadAll(path)
	if err != nil || len(rows) != 1 {
		t.Fatalf("ReadAll = %d rows, %v; want 1 row", len(rows), err)
	}

	// A sink cuts it off before appending.
	s, err := filesink.Open(path, filesink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []sinks.Result{sinktest.Row(2)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := good + line(t, sinktest.Row(2)); string(b) != want {
		t.Errorf("file =\n%s\nwant\n%s", b, want)
	}
}

func TestReadAllCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	content := line(t, sinktest.Row(0)) + "{garbage\n" + line(t, sinktest.Row(1))
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := filesink.ReadAll(path)
	if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != filesink.ReasonCorruptFile {
		t.Errorf("ReadAll of a corrupt file = %v, want a permanent corrupt_file error", err)
	}
}

func TestReadAllMissing(t *testing.T) {
	_, err := filesink.ReadAll(filepath.Join(t.TempDir(), "nope.jsonl"))
	if errkind.KindOf(err) != errkind.Permanent {
		t.Errorf("ReadAll of a missing file = %v, want a permanent error", err)
	}
}

func TestCompact(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := filesink.Open(path, filesink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := sinktest.Row(0)
		r.SentimentScore = float64(i)
		if err := s.Write(ctx, []sinks.Result{r, sinktest.Row(1)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := filesink.ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := filesink.Compact(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Errorf("compacted file has %d lines, want 2", n)
	}
	after, err := filesink.ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[0].SentimentScore != 2 || len(before) != 2 || before[0].SentimentScore != 2 {
		t.Errorf("rows before %+v, after %+v: want the last write of each key", before, after)
	}
}

// A second Close must not compact again: compaction replaces the file, and
// after a first Close that timed out the writer may still be appending to
// the one it has open.
func TestSecondCloseDoesNotCompact(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := filesink.Open(path, filesink.Options{CompactOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []sinks.Result{sinktest.Row(0), sinktest.Row(0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	compacted, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	again, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(compacted, again) {
		t.Error("second Close replaced the file: it compacted again")
	}
}
