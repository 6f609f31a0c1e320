package pgsink

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chorusml/chorus/sinks"
)

func TestDedupe(t *testing.T) {
	r := func(idx int, tenant, id, version string) row {
		return row{idx: idx, r: &sinks.Result{Tenant: tenant, ResponseID: id, PipelineVersion: version}}
	}
	tests := []struct {
		name string
		in   []row
		want []int // idx of the rows kept, in order
	}{
		{"empty", nil, nil},
		{"distinct_sorted_by_key", []row{r(0, "b", "1", "v"), r(1, "a", "2", "v"), r(2, "a", "1", "v2"), r(3, "a", "1", "v1")}, []int{3, 2, 1, 0}},
		{"last_occurrence_wins", []row{r(0, "a", "1", "v"), r(1, "a", "2", "v"), r(2, "a", "1", "v"), r(3, "a", "1", "v")}, []int{3, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]row(nil), tc.in...)
			var got []int
			for _, rw := range dedupe(in) {
				got = append(got, rw.idx)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("dedupe = %v, want %v", got, tc.want)
			}
			for i := range in {
				if in[i].idx != tc.in[i].idx {
					t.Fatal("dedupe reordered its input")
				}
			}
		})
	}
}

func TestDerivedName(t *testing.T) {
	long := strings.Repeat("é", 31) + "x" // 63 bytes
	tests := []struct{ table, suffix string }{
		{"chorus_results", "latest"},
		{strings.Repeat("t", 56), "latest"},
		{strings.Repeat("t", 57), "latest"},
		{strings.Repeat("t", 63), "model_versions_idx"},
		{long, "latest"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		got := derivedName(tc.table, tc.suffix)
		if len(got) > maxIdentLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "_"+tc.suffix) {
			t.Errorf("derivedName(%q, %q) = %q: too long, invalid or without its suffix", tc.table, tc.suffix, got)
		}
		if len(tc.table)+1+len(tc.suffix) <= maxIdentLen && got != tc.table+"_"+tc.suffix {
			t.Errorf("derivedName(%q, %q) = %q, want the plain name", tc.table, tc.suffix, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q both give %q", other, tc.table, got)
		}
		seen[got] = tc.table
	}
}

func TestPrepareKeepsBatchOrderAndIndexes(t *testing.T) {
	rows := []sinks.Result{
		{Tenant: "a", ResponseID: "1", PipelineVersion: "v", SentimentLabel: "positive", SentimentScore: 0.5},
		{Tenant: "", ResponseID: "2", PipelineVersion: "v"},
		{Tenant: "a", ResponseID: "0", PipelineVersion: "v", SentimentScore: 2},
		{Tenant: "a", ResponseID: "0", PipelineVersion: "v", Tags: []sinks.Tag{{Tag: "x", Score: 0.5}}},
	}
	good, bad := prepare(rows)
	if len(good) != 2 || good[0].idx != 0 || good[1].idx != 3 {
		t.Errorf("good rows %+v, want indexes 0 and 3", good)
	}
	if len(bad) != 2 || bad[0].Index != 1 || bad[1].Index != 2 {
		t.Errorf("bad rows %v, want indexes 1 and 2", bad)
	}
	if good[0].tags != "[]" || good[0].models != "{}" {
		t.Errorf("nil tags and model versions encode as %s and %s, want [] and {}", good[0].tags, good[0].models)
	}
}
