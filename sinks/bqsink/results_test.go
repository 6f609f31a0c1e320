package bqsink

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/worker/errkind"
)

// bqParams returns a query's parameters by name: scalars as their value,
// arrays as their values, each with its type ("STRING", "ARRAY<STRING>").
func bqParams(t *testing.T, in *bq.QueryRequest) (map[string]any, map[string]string) {
	t.Helper()
	vals, types := map[string]any{}, map[string]string{}
	for _, p := range in.QueryParameters {
		typ := p.ParameterType.Type
		if p.ParameterType.ArrayType != nil {
			typ += "<" + p.ParameterType.ArrayType.Type + ">"
			var vs []string
			for _, v := range p.ParameterValue.ArrayValues {
				vs = append(vs, v.Value)
			}
			vals[p.Name] = vs
		} else {
			vals[p.Name] = p.ParameterValue.Value
		}
		types[p.Name] = typ
	}
	return vals, types
}

// bqAnswer is a complete jobs.query response of string-typed cells.
func bqAnswer(fields []*bq.TableFieldSchema, rows ...[]any) *bq.QueryResponse {
	out := &bq.QueryResponse{
		Kind: "bigquery#queryResponse", JobComplete: true,
		JobReference: &bq.JobReference{ProjectId: "p", JobId: "j1"},
		Schema:       &bq.TableSchema{Fields: fields},
		TotalRows:    uint64(len(rows)), ForceSendFields: []string{"TotalRows", "JobComplete"},
	}
	for _, r := range rows {
		row := &bq.TableRow{}
		for _, v := range r {
			row.F = append(row.F, &bq.TableCell{V: v})
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// queryCatcher answers jobs.query with answer and records the requests.
type queryCatcher struct {
	mu     sync.Mutex
	reqs   []*bq.QueryRequest
	answer func(*bq.QueryRequest) (*bq.QueryResponse, error)
}

func (c *queryCatcher) install(fake *bqfake.Server) {
	fake.AddReactor(bqfake.RESTJobsQuery, bqfake.ReactorFunc(func(req any) (bool, any, error) {
		in := req.(*bqfake.RESTCall).Body.(*bq.QueryRequest)
		c.mu.Lock()
		c.reqs = append(c.reqs, in)
		c.mu.Unlock()
		resp, err := c.answer(in)
		return true, resp, err
	}))
}

func (c *queryCatcher) requests() []*bq.QueryRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reqs)
}

func openBQResults(ctx context.Context, t *testing.T, fake *bqfake.Server) *Results {
	t.Helper()
	b, err := OpenResults(ctx, "p", "d", "", option.WithEndpoint(fake.RESTEndpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Results.Scored (--stale-version) against BigQuery through the real client: one
// parameterised query (no key or version in its text), and only the exact
// (tenant, response_id) pairs asked about come back.
func TestResultsScored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := bqfake.Start(t)
	c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
		// What `tenant IN UNNEST(@tenants) AND response_id IN UNNEST(@ids)`
		// matches, cross pairs included.
		return bqAnswer([]*bq.TableFieldSchema{{Name: "tenant", Type: "STRING"}, {Name: "response_id", Type: "STRING"}},
			[]any{"acme", "r-1"}, []any{"acme", "r-2"}, []any{"globex", "r-2"}, []any{"acme", "r-3"}), nil
	}}
	c.install(fake)
	b := openBQResults(ctx, t, fake)

	keys := []sinks.ResponseKey{{Tenant: "acme", ResponseID: "r-1"}, {Tenant: "globex", ResponseID: "r-2"}, {Tenant: "acme", ResponseID: "r-3'; DROP TABLE x; --"}, {Tenant: "acme", ResponseID: "r-4"}}
	got, err := b.Scored(ctx, "2026-12-01.1", keys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[sinks.ResponseKey]bool{{Tenant: "acme", ResponseID: "r-1"}: true, {Tenant: "globex", ResponseID: "r-2"}: true}
	if !maps.Equal(got, want) {
		t.Fatalf("scored %v, want %v", got, want)
	}

	reqs := c.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d queries, want 1", len(reqs))
	}
	q := reqs[0]
	if wantSQL := "SELECT tenant, response_id FROM `p.d.chorus_results` WHERE pipeline_version = @version AND tenant IN UNNEST(@tenants) AND response_id IN UNNEST(@ids)"; q.Query != wantSQL {
		t.Fatalf("query %q, want %q", q.Query, wantSQL)
	}
	for _, v := range []string{"2026-12-01.1", "acme", "globex", "r-1", "DROP"} {
		if strings.Contains(q.Query, v) {
			t.Fatalf("query text %q holds the value %q: want it as a parameter", q.Query, v)
		}
	}
	if q.UseLegacySql == nil || *q.UseLegacySql {
		t.Fatalf("legacy SQL %v, want standard SQL", q.UseLegacySql)
	}
	vals, types := bqParams(t, q)
	wantVals := map[string]any{
		"version": "2026-12-01.1",
		"tenants": []string{"acme", "globex"},
		"ids":     []string{"r-1", "r-2", "r-3'; DROP TABLE x; --", "r-4"},
	}
	wantTypes := map[string]string{"version": "STRING", "tenants": "ARRAY<STRING>", "ids": "ARRAY<STRING>"}
	if !maps.Equal(types, wantTypes) {
		t.Fatalf("parameter types %v, want %v", types, wantTypes)
	}
	for name, w := range wantVals {
		if g := vals[name]; !equalParam(g, w) {
			t.Fatalf("parameter %s = %v, want %v", name, g, w)
		}
	}

	t.Run("an error is retryable", func(t *testing.T) {
		fake.ClearReactors()
		c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
			return nil, &googleapi.Error{Code: 400, Message: "Unrecognized name: pipeline_version", Errors: []googleapi.ErrorItem{{Reason: "invalidQuery"}}}
		}}
		c.install(fake)
		_, err := b.Scored(ctx, "v", []sinks.ResponseKey{{Tenant: "acme", ResponseID: "r-1"}})
		if err == nil || errkind.KindOf(err) != errkind.Retryable || !strings.Contains(err.Error(), "pipeline_version") {
			t.Fatalf("error %v (kind %v), want a retryable stale-check error", err, errkind.KindOf(err))
		}
	})
}

func equalParam(got, want any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && g == w
	case []string:
		g, ok := got.([]string)
		return ok && slices.Equal(g, w)
	}
	return false
}

// Results.CountRun (backfill status) against BigQuery: it sends the run id
// as a parameter and reads the count back. (backfill's TestRunStatusSink
// checks what RunStatus makes of the count.)
func TestResultsCountRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := bqfake.Start(t)
	const runID = "bf-20261201-x7"
	c := &queryCatcher{answer: func(in *bq.QueryRequest) (*bq.QueryResponse, error) {
		return bqAnswer([]*bq.TableFieldSchema{{Name: "n", Type: "INTEGER"}}, []any{"42"}), nil
	}}
	c.install(fake)
	b := openBQResults(ctx, t, fake)

	n, err := b.CountRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 42 {
		t.Fatalf("count %d, want 42", n)
	}
	reqs := c.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d queries, want 1", len(reqs))
	}
	q := reqs[0]
	if !strings.Contains(q.Query, "FROM `p.d.chorus_results` WHERE run_id = @run") || strings.Contains(q.Query, runID) {
		t.Fatalf("query %q: want the run id as the parameter @run", q.Query)
	}
	vals, types := bqParams(t, q)
	if vals["run"] != runID || types["run"] != "STRING" || len(vals) != 1 {
		t.Fatalf("parameters %v (types %v), want run = %q", vals, types, runID)
	}

	t.Run("no row is an error", func(t *testing.T) {
		fake.ClearReactors()
		c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
			return bqAnswer([]*bq.TableFieldSchema{{Name: "n", Type: "INTEGER"}}), nil
		}}
		c.install(fake)
		if _, err := b.CountRun(ctx, runID); err == nil || errkind.KindOf(err) != errkind.Retryable {
			t.Fatalf("error %v, want a retryable count error", err)
		}
	})
	t.Run("a failed query is an error", func(t *testing.T) {
		fake.ClearReactors()
		c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
			return nil, &googleapi.Error{Code: 404, Message: "Not found: Table p:d.chorus_results", Errors: []googleapi.ErrorItem{{Reason: "notFound"}}}
		}}
		c.install(fake)
		_, err := b.CountRun(ctx, runID)
		var gerr *googleapi.Error
		if err == nil || !errors.As(err, &gerr) || gerr.Code != 404 {
			t.Fatalf("error %v, want the 404", err)
		}
	})
}

// The table path is the one part of these queries that cannot be a
// parameter: names that could close its quoting are refused.
func TestResultsTableNames(t *testing.T) {
	for _, tc := range []struct {
		project, dataset, table string
		ok                      bool
	}{
		{"my-project", "feedback", "chorus_results", true},
		{"example.com:legacy-proj", "feedback", "results 2026-q4", true},
		{"p", "d", "t", true},
		{"p`; DROP TABLE x; --", "d", "t", false},
		{"p", "d`", "t", false},
		{"p", "d.e", "t", false},
		{"p", "d", "t` WHERE 1=1 --", false},
		{"p", "d", "t\\x00", false},
		{"p", "d", "a.b", false},
		{"P", "d", "t", false},
	} {
		_, err := bqTable(tc.project, tc.dataset, tc.table)
		if (err == nil) != tc.ok {
			t.Errorf("bqTable(%q, %q, %q) = %v, want ok %v", tc.project, tc.dataset, tc.table, err, tc.ok)
		}
	}
}
