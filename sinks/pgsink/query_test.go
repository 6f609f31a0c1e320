package pgsink_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/worker/errkind"
)

// A query is counted, then read in the order asked for whatever order it
// has itself, a trailing semicolon dropped; each row is its columns in the
// query's order, values as pgx returns them.
func TestQueryReader(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres")
	}
	srv := pgtest.Start(t)
	const query = `SELECT * FROM (VALUES ('r-2', 'acme', 7::int4, NULL::text), ('r-1', 'globex', 8, 'x'), ('r-1', 'acme', 9, 'y'))
		v(response_id, tenant, score, score) ORDER BY 3 DESC;
	`
	r, err := pgsink.OpenQuery(testCtx(t), srv.DSN(), query, "tenant, response_id")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Total() != 3 {
		t.Fatalf("total %d, want 3", r.Total())
	}
	row := func(id, tenant string, score int32, other any) []sinks.Column {
		return []sinks.Column{{Name: "response_id", Value: id}, {Name: "tenant", Value: tenant}, {Name: "score", Value: score}, {Name: "score", Value: other}}
	}
	want := [][]sinks.Column{row("r-1", "acme", 9, "y"), row("r-2", "acme", 7, nil), row("r-1", "globex", 8, "x")}
	for i, w := range want {
		got, err := r.Next(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("row %d: %v, want %v", i, got, w)
		}
	}
	if _, err := r.Next(testCtx(t)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}

	t.Run("a canceled context stops the read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		r, err := pgsink.OpenQuery(ctx, srv.DSN(), "SELECT 'r-1' AS response_id, 'acme' AS tenant", "tenant, response_id")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cancel()
		if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	for _, tc := range []struct {
		name, query string
		reason      errkind.Reason
	}{
		{"an empty query", "", pgsink.ReasonBadConfig},
		{"a query the server refuses", "SELECT no_such_column", pgsink.ReasonBadQuery},
		{"a query without the order's columns", "SELECT 1 AS x", pgsink.ReasonBadQuery},
	} {
		t.Run(tc.name+" is a permanent error", func(t *testing.T) {
			_, err := pgsink.OpenQuery(testCtx(t), srv.DSN(), tc.query, "tenant, response_id")
			if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != tc.reason {
				t.Fatalf("error %v, want a permanent %s error", err, tc.reason)
			}
		})
	}
}
