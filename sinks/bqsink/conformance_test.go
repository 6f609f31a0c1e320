package bqsink_test

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/bqsink/bqfake"
	"github.com/chorusml/chorus/sinks/sinktest"
)

const testProject = "chorus-test"

// fixture is one fake server shared by a test's cases; every harness gets
// its own table in it.
type fixture struct {
	srv    *bqfake.Server
	tables atomic.Int64
}

func newFixture(t testing.TB) *fixture {
	return &fixture{srv: bqfake.Start(t)}
}

// options returns Options for a fresh table name.
func (f *fixture) options() bqsink.Options {
	return bqsink.Options{
		Project:            testProject,
		Dataset:            "results",
		Table:              fmt.Sprintf("t%d", f.tables.Add(1)),
		ClientOptions:      f.srv.ClientOptions(),
		WriteClientOptions: f.srv.WriteClientOptions(),
	}
}

// migrated returns Options for a fresh, migrated table.
func (f *fixture) migrated(ctx context.Context, t testing.TB) bqsink.Options {
	t.Helper()
	opts := f.options()
	if err := bqsink.Migrate(ctx, opts); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return opts
}

// harness adapts a table of the fake to sinktest. badRow picks how a row
// is made bad: by the driver's own checks, or by BigQuery (the fake).
type harness struct {
	opts   bqsink.Options
	badRow func(sinks.Result) sinks.Result
}

func (h *harness) NewSink(ctx context.Context) (sinks.Sink, error) { return bqsink.Open(ctx, h.opts) }

func (h *harness) ReadAll(ctx context.Context) ([]sinks.Result, error) {
	return bqsink.ReadAll(ctx, h.opts)
}

func (h *harness) BadRow(r sinks.Result) (sinks.Result, bool) { return h.badRow(r), true }

func (h *harness) Close() {}

// Bad rows: one the server rejects (a TIMESTAMP past 9999-12-31, a row
// error in the AppendRows response), one the driver rejects before sending.
func serverBadRow(r sinks.Result) sinks.Result {
	r.ScoredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	return r
}

func driverBadRow(r sinks.Result) sinks.Result {
	r.SentimentScore = math.NaN()
	return r
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name   string
		badRow func(sinks.Result) sinks.Result
	}{
		{"server_rejects_bad_rows", serverBadRow},
		{"driver_rejects_bad_rows", driverBadRow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			maker := func(ctx context.Context, t testing.TB) (sinktest.Harness, error) {
				return &harness{opts: f.migrated(ctx, t), badRow: tc.badRow}, nil
			}
			sinktest.Run(t, maker)
		})
	}
}
