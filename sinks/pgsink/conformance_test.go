package pgsink_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sinks/sinktest"
)

type harness struct {
	dsn, schema, table string
	bad                func(sinks.Result) sinks.Result
}

func (h harness) NewSink(ctx context.Context) (sinks.Sink, error) {
	return pgsink.Open(ctx, pgsink.Options{DSN: h.dsn, Schema: h.schema, Table: h.table})
}

func (h harness) ReadAll(ctx context.Context) ([]sinks.Result, error) {
	return pgsink.ReadAll(ctx, h.dsn, h.schema, h.table)
}

func (h harness) BadRow(r sinks.Result) (sinks.Result, bool) { return h.bad(r), true }

func (harness) Close() {}

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	tests := []struct {
		name string
		// alter, if set, runs on the fresh table (%s: its name).
		alter string
		bad   func(sinks.Result) sinks.Result
	}{
		{
			// Write's own checks catch the bad row before it is sent.
			name: "rejected_by_write",
			bad:  func(r sinks.Result) sinks.Result { r.ResponseID = ""; return r },
		},
		{
			// The server rejects the bad row (a constraint Write does not
			// know about): Write finds it with a savepoint per row.
			name:  "rejected_by_server",
			alter: `ALTER TABLE %s ADD CONSTRAINT harness_reject CHECK (source_message_id <> 'reject-me')`,
			bad:   func(r sinks.Result) sinks.Result { r.SourceMessageID = "reject-me"; return r },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := "conformance_" + tc.name
			newHarness := func(ctx context.Context, t testing.TB) (sinktest.Harness, error) {
				table := newTable(t, srv, schema)
				if tc.alter != "" {
					exec(t, srv, fmt.Sprintf(tc.alter, qualified(schema, table)))
				}
				return harness{dsn: srv.DSN(), schema: schema, table: table, bad: tc.bad}, nil
			}
			sinktest.Run(t, newHarness)
		})
	}
}
