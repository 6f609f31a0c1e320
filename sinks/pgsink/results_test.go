package pgsink_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/worker/errkind"
)

// Results reads back what the sink wrote: the exact (tenant, response_id)
// pairs that have a row of a version, and the distinct responses of a run
// (one response under two versions counts once).
func TestResults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres")
	}
	srv := pgtest.Start(t)
	table := newTable(t, srv, "public")
	sink := open(t, pgsink.Options{DSN: srv.DSN(), Table: table})
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	row := func(tenant, id, version, run string) sinks.Result {
		return sinks.Result{Tenant: tenant, ResponseID: id, Pipeline: "default", PipelineVersion: version,
			SentimentLabel: "negative", SentimentScore: 0.2, RunID: run, ScoredAt: at}
	}
	if err := sink.Write(testCtx(t), []sinks.Result{
		row("acme", "r-1", "v2", "run-1"), row("acme", "r-1", "v1", "run-1"),
		row("globex", "r-2", "v2", "run-1"), row("acme", "r-2", "v1", "run-2"),
		row("acme", "r-3'; DROP TABLE x; --", "v2", ""),
	}); err != nil {
		t.Fatal(err)
	}

	res, err := pgsink.OpenResults(testCtx(t), srv.DSN(), "", table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })

	keys := []sinks.ResponseKey{
		{Tenant: "acme", ResponseID: "r-1"}, {Tenant: "globex", ResponseID: "r-2"},
		{Tenant: "acme", ResponseID: "r-2"}, {Tenant: "acme", ResponseID: "r-3'; DROP TABLE x; --"},
		{Tenant: "acme", ResponseID: "r-4"},
	}
	got, err := res.Scored(testCtx(t), "v2", keys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[sinks.ResponseKey]bool{keys[0]: true, keys[1]: true, keys[3]: true}
	if !maps.Equal(got, want) {
		t.Fatalf("scored %v, want %v", got, want)
	}

	for run, want := range map[string]int64{"run-1": 2, "run-2": 1, "run-3": 0} {
		n, err := res.CountRun(testCtx(t), run)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("CountRun(%s) = %d, want %d", run, n, want)
		}
	}

	t.Run("a missing table is a retryable stale-check error", func(t *testing.T) {
		res, err := pgsink.OpenResults(testCtx(t), srv.DSN(), "public", "no_such_table")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		_, err = res.Scored(testCtx(t), "v2", keys[:1])
		if errkind.KindOf(err) != errkind.Retryable || errkind.ReasonOf(err) != pgsink.ReasonStaleCheck {
			t.Fatalf("error %v, want a retryable %s error", err, pgsink.ReasonStaleCheck)
		}
		_, err = res.CountRun(testCtx(t), "run-1")
		if errkind.KindOf(err) != errkind.Retryable || errkind.ReasonOf(err) != pgsink.ReasonCountRun {
			t.Fatalf("error %v, want a retryable %s error", err, pgsink.ReasonCountRun)
		}
	})
	t.Run("a bad DSN is not shown", func(t *testing.T) {
		const dsn = "postgres://user:s3cret@127.0.0.1:1/db?sslmode=bogus"
		_, err := pgsink.OpenResults(testCtx(t), dsn, "", "")
		if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != pgsink.ReasonBadDSN || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error %v, want a permanent %s error without the DSN", err, pgsink.ReasonBadDSN)
		}
	})
}
