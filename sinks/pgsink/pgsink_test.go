package pgsink_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sinks/sinktest"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	const schema = "write"

	t.Run("rescoring_adds_rows_and_latest_view_follows_scored_at", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		ctx := testCtx(t)
		v1 := sinktest.Row(1)
		v2 := sinktest.Row(1)
		v2.PipelineVersion, v2.SentimentLabel, v2.ScoredAt = "2026.12.0", "negative", v1.ScoredAt.Add(time.Hour)
		other := sinktest.Row(2)
		for _, batch := range [][]sinks.Result{{v1, other}, {v2}} {
			if err := s.Write(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		if got := count(t, srv, qualified(schema, table)); got != 3 {
			t.Errorf("%d rows after re-scoring, want 3 (one per pipeline version)", got)
		}
		latest := func() map[string]string { // response_id → pipeline_version
			t.Helper()
			rows, err := connect(t, srv).Query(ctx, "SELECT response_id, pipeline_version FROM "+qualified(schema, pgsink.LatestView(table)))
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			var id, version string
			if _, err := pgx.ForEachRow(rows, []any{&id, &version}, func() error { out[id] = version; return nil }); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := latest(); got[v1.ResponseID] != "2026.12.0" || got[other.ResponseID] != other.PipelineVersion || len(got) != 2 {
			t.Errorf("latest = %v, want %s at 2026.12.0 and %s at %s", got, v1.ResponseID, other.ResponseID, other.PipelineVersion)
		}
		// Re-scoring with the old version later makes it the latest again:
		// the view goes by scored_at, not by version.
		v1.ScoredAt = v2.ScoredAt.Add(time.Minute)
		if err := s.Write(ctx, []sinks.Result{v1}); err != nil {
			t.Fatal(err)
		}
		if got := latest(); got[v1.ResponseID] != v1.PipelineVersion {
			t.Errorf("latest for %s = %s after the old version was re-scored later, want %s", v1.ResponseID, got[v1.ResponseID], v1.PipelineVersion)
		}
	})

	t.Run("rows_rejected_before_sending", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		tests := []struct {
			name string
			bad  func(*sinks.Result)
		}{
			{"empty_tenant", func(r *sinks.Result) { r.Tenant = "" }},
			{"empty_pipeline_version", func(r *sinks.Result) { r.PipelineVersion = "" }},
			{"nan_score", func(r *sinks.Result) { r.SentimentScore = math.NaN() }},
			{"infinite_score", func(r *sinks.Result) { r.SentimentScore = math.Inf(1) }},
			{"score_above_one", func(r *sinks.Result) { r.SentimentScore = 1.0000001 }},
			{"score_below_minus_one", func(r *sinks.Result) { r.SentimentScore = -1.5 }},
			{"unknown_label", func(r *sinks.Result) { r.SentimentLabel = "meh" }},
			{"nul_in_text", func(r *sinks.Result) { r.SourceMessageID = "a\x00b" }},
			{"invalid_utf8", func(r *sinks.Result) { r.Pipeline = "\xff\xfe" }},
			{"nan_tag_score", func(r *sinks.Result) { r.Tags[0].Score = math.NaN() }},
			{"nul_in_model_version", func(r *sinks.Result) { r.ModelVersions["topics"] = "\x00" }},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				good, bad := sinktest.Row(1), sinktest.Row(1)
				good.ResponseID, bad.ResponseID = fmt.Sprintf("good-%d", i), fmt.Sprintf("bad-%d", i)
				tc.bad(&bad)
				re, ok := sinks.AsRowErrors(s.Write(testCtx(t), []sinks.Result{good, bad}))
				if !ok || len(re) != 1 || re[0].Index != 1 {
					t.Fatalf("write = %v, want a row error for index 1", re)
				}
				if k, r := errkind.KindOf(re[0].Err), errkind.ReasonOf(re[0].Err); k != errkind.InvalidInput || r != pgsink.ReasonInvalidRow {
					t.Errorf("row error %v: kind %v reason %s, want invalid_input %s", re[0].Err, k, r, pgsink.ReasonInvalidRow)
				}
			})
		}
		if got := count(t, srv, qualified(schema, table)); got != len(tests) {
			t.Errorf("%d rows, want the %d good ones", got, len(tests))
		}
	})

	// A key over Postgres's btree entry limit (~2.7 KB) fails with SQLSTATE
	// 54000: that row alone is reported, the rest of the batch commits.
	t.Run("key_over_the_index_limit_is_a_row_error", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		a, long, b := sinktest.Row(1), sinktest.Row(2), sinktest.Row(3)
		// Random-looking text: Postgres compresses a repetitive key under the limit.
		var sb strings.Builder
		for i := 0; sb.Len() < 3000; i++ {
			fmt.Fprintf(&sb, "%x", uint32(i)*2654435761)
		}
		long.ResponseID = sb.String()
		re, ok := sinks.AsRowErrors(s.Write(testCtx(t), []sinks.Result{a, long, b}))
		if !ok || len(re) != 1 || re[0].Index != 1 {
			t.Fatalf("write = %v, want one row error for index 1", re)
		}
		if k, r := errkind.KindOf(re[0].Err), errkind.ReasonOf(re[0].Err); k != errkind.InvalidInput || r != pgsink.ReasonLimitExceeded {
			t.Errorf("row error %v: kind %v reason %s, want invalid_input %s", re[0].Err, k, r, pgsink.ReasonLimitExceeded)
		}
		if got := count(t, srv, qualified(schema, table)); got != 2 {
			t.Errorf("%d rows, want the 2 good ones", got)
		}
	})

	t.Run("server_rejected_rows_reported_and_the_rest_committed", func(t *testing.T) {
		table := newTable(t, srv, schema)
		exec(t, srv, "ALTER TABLE "+qualified(schema, table)+" ADD CONSTRAINT no_poison CHECK (source_message_id <> 'poison')")
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		poison := func(r sinks.Result) sinks.Result { r.SourceMessageID = "poison"; return r }
		a, b, c, d := sinktest.Row(1), sinktest.Row(2), sinktest.Row(3), sinktest.Row(4)
		// a's later duplicate is bad: the earlier good a is still written.
		re, ok := sinks.AsRowErrors(s.Write(testCtx(t), []sinks.Result{a, b, poison(a), poison(c), d}))
		if !ok || len(re) != 2 || re[0].Index != 2 || re[1].Index != 3 {
			t.Fatalf("write = %v, want row errors for indexes 2 and 3", re)
		}
		for _, e := range re {
			if k, r := errkind.KindOf(e.Err), errkind.ReasonOf(e.Err); k != errkind.InvalidInput || r != pgsink.ReasonConstraint {
				t.Errorf("row error %v: kind %v reason %s, want invalid_input %s", e.Err, k, r, pgsink.ReasonConstraint)
			}
			if !strings.Contains(e.Err.Error(), "no_poison") {
				t.Errorf("row error %q does not name the constraint", e.Err)
			}
		}
		got, err := pgsink.ReadAll(testCtx(t), srv.DSN(), schema, table)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ResponseID+"/"+r.SourceMessageID)
		}
		if want := []string{"r-0001/msg-1", "r-0002/msg-2", "r-0004/msg-4"}; strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Errorf("rows %v, want %v", ids, want)
		}
	})

	t.Run("statement_timeout_is_retryable", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table, StatementTimeout: 200 * time.Millisecond})
		unlock := lockTable(t, srv, schema, table)
		defer unlock()
		start := time.Now()
		err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)})
		if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != errkind.Retryable || r != pgsink.ReasonStmtTimeout {
			t.Errorf("write on a locked table = %v (kind %v, reason %s), want retryable statement_timeout", err, k, r)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("write took %v with a 200ms statement timeout", d)
		}
	})

	t.Run("context_deadline_mid_write_is_retryable_and_leaves_nothing", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		unlock := lockTable(t, srv, schema, table)
		ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
		defer cancel()
		err := s.Write(ctx, []sinks.Result{sinktest.Row(1), sinktest.Row(2)})
		unlock()
		if k := errkind.KindOf(err); k != errkind.Retryable {
			t.Errorf("write past its deadline = %v (kind %v), want retryable", err, k)
		}
		if got := count(t, srv, qualified(schema, table)); got != 0 {
			t.Errorf("%d rows after a write that timed out", got)
		}
		// The sink still works.
		if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("close_waits_for_writes_in_progress", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		unlock := lockTable(t, srv, schema, table)
		defer unlock()
		writeDone := make(chan error, 1)
		go func() { writeDone <- s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)}) }()
		waitBlocked(t, srv, 1)
		closeDone := make(chan error, 1)
		go func() { closeDone <- s.Close(testCtx(t)) }()
		select {
		case err := <-closeDone:
			t.Fatalf("Close returned (%v) while a Write was in progress", err)
		case <-time.After(200 * time.Millisecond):
		}
		if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(2)}); !errors.Is(err, sinks.ErrClosed) {
			t.Errorf("write during Close = %v, want ErrClosed", err)
		}
		unlock()
		if err := <-writeDone; err != nil {
			t.Errorf("write in progress at Close: %v", err)
		}
		if err := <-closeDone; err != nil {
			t.Errorf("close: %v", err)
		}
		if got := count(t, srv, qualified(schema, table)); got != 1 {
			t.Errorf("%d rows, want 1", got)
		}
	})

	t.Run("pool_sized_from_max_conns", func(t *testing.T) {
		table := newTable(t, srv, schema)
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table, MaxConns: 2})
		unlock := lockTable(t, srv, schema, table)
		defer unlock()
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(i)}); err != nil {
					t.Errorf("write: %v", err)
				}
			})
		}
		waitBlocked(t, srv, 2)
		// A window, not a synchronisation: what must not happen is a
		// third write reaching the server, and nothing signals that it
		// did not.
		time.Sleep(100 * time.Millisecond)
		if n := blocked(t, srv); n != 2 {
			t.Errorf("%d writes waiting in the server with MaxConns 2", n)
		}
		unlock()
		wg.Wait()
		if got := count(t, srv, qualified(schema, table)); got != 6 {
			t.Errorf("%d rows, want 6", got)
		}
	})

	t.Run("unmigrated_table", func(t *testing.T) {
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: "never_migrated"})
		err := s.Check(testCtx(t))
		if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != errkind.Permanent || r != pgsink.ReasonNotMigrated {
			t.Errorf("check = %v (kind %v, reason %s), want permanent not_migrated", err, k, r)
		}
		if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)}); errkind.KindOf(err) != errkind.Permanent {
			t.Errorf("write to a missing table = %v (kind %v), want permanent", err, errkind.KindOf(err))
		}
		if _, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), schema, "never_migrated"); err != nil {
			t.Fatal(err)
		}
		if err := s.Check(testCtx(t)); err != nil {
			t.Errorf("check after migrate: %v", err)
		}
	})

	t.Run("dsn_never_in_errors", func(t *testing.T) {
		const secret = "s3cr3t-pw"
		tests := []struct {
			name, dsn string
			write     bool // Open succeeds; the error comes from Write
		}{
			{"url_bad_port", "postgres://chorus:" + secret + "@127.0.0.1:notaport/db", false},
			{"keywords_bad_option", "host=127.0.0.1 password=" + secret + " sslmode=bogus", false},
			{"url_unbalanced", "postgres://chorus:" + secret + "@[::1/db", false},
			{"nothing_listening", "postgres://chorus:" + secret + "@127.0.0.1:1/db?connect_timeout=2", true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s, err := pgsink.Open(testCtx(t), pgsink.Options{DSN: tc.dsn})
				if tc.write {
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close(testCtx(t))
					err = s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)})
					if errkind.KindOf(err) != errkind.Retryable {
						t.Errorf("write with nothing listening = %v, want retryable", err)
					}
				} else if errkind.KindOf(err) != errkind.Permanent {
					t.Errorf("open = %v, want a permanent error", err)
				}
				if err == nil || strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the password (or is nil)", err)
				}
				if _, err := pgsink.MigrateDSN(testCtx(t), tc.dsn, "public", "t"); err == nil || strings.Contains(err.Error(), secret) {
					t.Errorf("migrate error %q shows the password (or is nil)", err)
				}
			})
		}
	})
}

// count returns the number of rows in a quoted table.
func count(t testing.TB, srv *pgtest.Server, table string) int {
	t.Helper()
	var n int
	if err := connect(t, srv).QueryRow(testCtx(t), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// lockTable holds an ACCESS EXCLUSIVE lock on the table until the returned
// function is called (at most once; later calls do nothing).
func lockTable(t testing.TB, srv *pgtest.Server, schema, table string) (unlock func()) {
	t.Helper()
	conn := connect(t, srv)
	tx, err := conn.Begin(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(testCtx(t), "LOCK TABLE "+qualified(schema, table)+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
}

// blocked is the number of chorus sessions waiting for a lock.
func blocked(t testing.TB, srv *pgtest.Server) int {
	t.Helper()
	var n int
	if err := connect(t, srv).QueryRow(testCtx(t),
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chorus' AND wait_event_type = 'Lock'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitBlocked waits until n chorus sessions wait for a lock.
func waitBlocked(t testing.TB, srv *pgtest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for blocked(t, srv) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d writes blocked after 5s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
