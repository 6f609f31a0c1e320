package bqsink

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/worker/errkind"
)

// A query through the real client against bqfake's REST fake: wrapped for
// the order asked for, a trailing semicolon dropped, the total known once a
// row is read, each row its columns as the client types them.
func TestQueryReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := bqfake.Start(t)
	c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
		return bqAnswer([]*bq.TableFieldSchema{{Name: "response_id", Type: "STRING"}, {Name: "score", Type: "INTEGER"}, {Name: "lang", Type: "STRING"}},
			[]any{"r-1", "6", "en"}, []any{"r-2", nil, nil}), nil
	}}
	c.install(fake)
	opts := []option.ClientOption{option.WithEndpoint(fake.RESTEndpoint()), option.WithoutAuthentication()}
	r, err := OpenQuery(ctx, "p", "SELECT * FROM `p.d.feedback`; \n", "tenant, response_id", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reqs := c.requests()
	if want := "SELECT * FROM (SELECT * FROM `p.d.feedback`) q ORDER BY tenant, response_id"; len(reqs) != 1 || reqs[0].Query != want {
		t.Fatalf("queries %v, want one %q", reqs, want)
	}
	if r.Total() != -1 {
		t.Fatalf("total before a read %d, want -1", r.Total())
	}
	want := []map[string]any{{"response_id": "r-1", "score": int64(6), "lang": "en"}, {"response_id": "r-2", "score": nil, "lang": nil}}
	for i, w := range want {
		cols, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		for _, c := range cols {
			got[c.Name] = c.Value
		}
		if len(cols) != len(w) || len(got) != len(w) {
			t.Fatalf("row %d: columns %v, want %v", i, cols, w)
		}
		for name, v := range w {
			if got[name] != v {
				t.Fatalf("row %d: %s = %#v, want %#v", i, name, got[name], v)
			}
		}
		if r.Total() != 2 {
			t.Fatalf("total %d, want 2", r.Total())
		}
	}
	if _, err := r.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}

	t.Run("a refused query is a permanent error", func(t *testing.T) {
		fake.ClearReactors()
		c := &queryCatcher{answer: func(*bq.QueryRequest) (*bq.QueryResponse, error) {
			return nil, &googleapi.Error{Code: 400, Message: "Unrecognized name: tenant", Errors: []googleapi.ErrorItem{{Reason: "invalidQuery"}}}
		}}
		c.install(fake)
		_, err := OpenQuery(ctx, "p", "SELECT 1", "tenant, response_id", opts...)
		if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != ReasonBadQuery {
			t.Fatalf("error %v, want a permanent %s error", err, ReasonBadQuery)
		}
	})
	for _, tc := range []struct{ name, project, query string }{{"no project", "", "SELECT 1"}, {"no query", "p", ""}} {
		t.Run(tc.name+" is a permanent error", func(t *testing.T) {
			_, err := OpenQuery(ctx, tc.project, tc.query, "tenant, response_id", opts...)
			if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != ReasonBadConfig {
				t.Fatalf("error %v, want a permanent %s error", err, ReasonBadConfig)
			}
		})
	}
}
