package pgsink_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sinks/sinktest"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)

	t.Run("second_run_is_a_no_op", func(t *testing.T) {
		first, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), "m_twice", "results")
		if err != nil || !slices.Equal(first, []string{"0001_create_results"}) {
			t.Fatalf("first migrate = %v, %v; want [0001_create_results]", first, err)
		}
		again, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), "m_twice", "results")
		if err != nil || len(again) != 0 {
			t.Fatalf("second migrate = %v, %v; want nothing applied", again, err)
		}
	})

	t.Run("concurrent_runs_apply_once", func(t *testing.T) {
		const runs = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []string
		)
		for range runs {
			wg.Go(func() {
				got, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), "m_concurrent", "results")
				if err != nil {
					t.Errorf("migrate: %v", err)
				}
				mu.Lock()
				applied = append(applied, got...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if !slices.Equal(applied, []string{"0001_create_results"}) {
			t.Errorf("%d concurrent migrations applied %v in all, want each migration once", runs, applied)
		}
	})

	t.Run("names_are_quoted", func(t *testing.T) {
		schema, table := `odd "schema"`, `results; DROP TABLE x; --`
		if _, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), schema, table); err != nil {
			t.Fatal(err)
		}
		s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table})
		if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)}); err != nil {
			t.Fatal(err)
		}
		if got := count(t, srv, qualified(schema, pgsink.LatestView(table))); got != 1 {
			t.Errorf("%d rows in the latest view, want 1", got)
		}
	})

	t.Run("several_tables_share_a_schema", func(t *testing.T) {
		a, b := newTable(t, srv, "m_shared"), newTable(t, srv, "m_shared")
		sa := open(t, pgsink.Options{DSN: srv.DSN(), Schema: "m_shared", Table: a})
		if err := sa.Write(testCtx(t), []sinks.Result{sinktest.Row(1), sinktest.Row(2)}); err != nil {
			t.Fatal(err)
		}
		if na, nb := count(t, srv, qualified("m_shared", a)), count(t, srv, qualified("m_shared", b)); na != 2 || nb != 0 {
			t.Errorf("rows: %s has %d, %s has %d; want 2 and 0", a, na, b, nb)
		}
		var n int
		if err := connect(t, srv).QueryRow(testCtx(t),
			"SELECT count(DISTINCT table_name) FROM "+qualified("m_shared", pgsink.MigrationsTable)+" WHERE table_name = ANY($1)",
			[]string{a, b}).Scan(&n); err != nil || n != 2 {
			t.Errorf("%s records %d of the two tables (%v)", pgsink.MigrationsTable, n, err)
		}
	})

	t.Run("long_names_do_not_collide", func(t *testing.T) {
		// Postgres cuts names at 63 bytes: both tables' index names would
		// be cut to the same name without the hash.
		prefix := strings.Repeat("t", 58)
		for _, table := range []string{prefix + "_one", prefix + "_two"} {
			if _, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), "m_long", table); err != nil {
				t.Fatalf("migrate %s: %v", table, err)
			}
			s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: "m_long", Table: table})
			if err := s.Write(testCtx(t), []sinks.Result{sinktest.Row(1)}); err != nil {
				t.Fatal(err)
			}
			if got := count(t, srv, qualified("m_long", pgsink.LatestView(table))); got != 1 {
				t.Errorf("%d rows in %s's latest view, want 1", got, table)
			}
		}
	})

	t.Run("changed_migration_is_refused", func(t *testing.T) {
		table := newTable(t, srv, "m_changed")
		exec(t, srv, "UPDATE "+qualified("m_changed", pgsink.MigrationsTable)+" SET checksum = 'edited' WHERE table_name = $1", table)
		_, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), "m_changed", table)
		if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != errkind.Permanent || r != pgsink.ReasonMigrationChanged {
			t.Errorf("migrate = %v (kind %v, reason %s), want permanent migration_changed", err, k, r)
		}
	})

	t.Run("bad_names", func(t *testing.T) {
		tests := []struct{ name, schema, table string }{
			{"empty_table", "public", ""},
			{"empty_schema", "", "results"},
			{"table_too_long", "public", strings.Repeat("x", 64)},
			{"not_utf8", "public", "\xff"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := pgsink.MigrateDSN(testCtx(t), srv.DSN(), tc.schema, tc.table); errkind.KindOf(err) != errkind.Permanent {
					t.Errorf("migrate %q.%q = %v, want a permanent error", tc.schema, tc.table, err)
				}
			})
		}
	})
}

func TestSchema(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	const schema = "constraints"
	table := newTable(t, srv, schema)
	conn := connect(t, srv)

	// insert writes one row with SQL, good but for the overrides, which
	// may be SQL expressions (raw) or values (parameters).
	insert := func(t *testing.T, id string, raw map[string]string, vals map[string]any) error {
		t.Helper()
		cols := []string{"tenant", "response_id", "pipeline", "pipeline_version", "sentiment_label", "sentiment_score",
			"tags", "model_versions", "partial", "run_id", "source_message_id", "scored_at"}
		good := map[string]any{"tenant": "acme", "response_id": id, "pipeline": "p", "pipeline_version": "v1",
			"sentiment_label": "positive", "sentiment_score": 0.5, "tags": "[]", "model_versions": "{}",
			"partial": false, "run_id": nil, "source_message_id": "m", "scored_at": time.Now()}
		var (
			exprs []string
			args  []any
		)
		for _, c := range cols {
			if e, ok := raw[c]; ok {
				exprs = append(exprs, e)
				continue
			}
			v := good[c]
			if o, ok := vals[c]; ok {
				v = o
			}
			args = append(args, v)
			cast := ""
			if c == "tags" || c == "model_versions" {
				cast = "::jsonb"
			}
			exprs = append(exprs, fmt.Sprintf("$%d%s", len(args), cast))
		}
		_, err := conn.Exec(testCtx(t), "INSERT INTO "+qualified(schema, table)+" ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(exprs, ", ")+")", args...)
		return err
	}

	t.Run("checks", func(t *testing.T) {
		tests := []struct {
			name string
			raw  map[string]string
			vals map[string]any
			// want is the SQLSTATE, "" when the row is accepted.
			want string
		}{
			{name: "good"},
			{name: "score_minus_one", vals: map[string]any{"sentiment_score": -1.0}},
			{name: "score_one", vals: map[string]any{"sentiment_score": 1.0}},
			{name: "empty_label", vals: map[string]any{"sentiment_label": ""}},
			{name: "run_id_set", vals: map[string]any{"run_id": "backfill-1"}},
			{name: "score_nan_param", vals: map[string]any{"sentiment_score": math.NaN()}, want: "23514"},
			{name: "score_nan_literal", raw: map[string]string{"sentiment_score": "'NaN'::float8"}, want: "23514"},
			{name: "score_infinity", raw: map[string]string{"sentiment_score": "'Infinity'::float8"}, want: "23514"},
			{name: "score_minus_infinity", raw: map[string]string{"sentiment_score": "'-Infinity'::float8"}, want: "23514"},
			{name: "score_above_one", vals: map[string]any{"sentiment_score": 1.0000001}, want: "23514"},
			{name: "score_below_minus_one", vals: map[string]any{"sentiment_score": -1.0000001}, want: "23514"},
			{name: "empty_tenant", vals: map[string]any{"tenant": ""}, want: "23514"},
			{name: "empty_response_id", vals: map[string]any{"response_id": ""}, want: "23514"},
			{name: "empty_pipeline_version", vals: map[string]any{"pipeline_version": ""}, want: "23514"},
			{name: "unknown_label", vals: map[string]any{"sentiment_label": "meh"}, want: "23514"},
			{name: "empty_run_id", vals: map[string]any{"run_id": ""}, want: "23514"},
			{name: "tags_not_array", vals: map[string]any{"tags": `{"a": 1}`}, want: "23514"},
			{name: "model_versions_not_object", vals: map[string]any{"model_versions": `[]`}, want: "23514"},
			{name: "null_tenant", raw: map[string]string{"tenant": "NULL"}, want: "23502"},
			{name: "null_scored_at", raw: map[string]string{"scored_at": "NULL"}, want: "23502"},
			{name: "nul_in_jsonb", vals: map[string]any{"model_versions": `{"a": "\u0000"}`}, want: "22P05"},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := insert(t, fmt.Sprintf("r-%d", i), tc.raw, tc.vals)
				var pe *pgconn.PgError
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("insert = %v, want accepted", err)
				case tc.want != "" && (!errors.As(err, &pe) || pe.Code != tc.want):
					t.Errorf("insert = %v, want SQLSTATE %s", err, tc.want)
				}
			})
		}
	})

	t.Run("indexes", func(t *testing.T) {
		rows, err := conn.Query(testCtx(t), "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2", schema, table)
		if err != nil {
			t.Fatal(err)
		}
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(defs, "\n")
		for _, want := range []string{
			"UNIQUE INDEX", "(tenant, response_id, pipeline_version)",
			"(tenant, scored_at DESC)",
			"(pipeline_version)",
			"USING gin (model_versions jsonb_path_ops)",
			"(run_id) WHERE (run_id IS NOT NULL)",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("no index with %q in:\n%s", want, all)
			}
		}
	})

	t.Run("model_version_query_uses_the_gin_index", func(t *testing.T) {
		tx, err := conn.Begin(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(testCtx(t))
		if _, err := tx.Exec(testCtx(t), "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(testCtx(t), "EXPLAIN SELECT * FROM "+qualified(schema, table)+" WHERE model_versions @> $1::jsonb", `{"topics": "7"}`)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, table+"_model_versions_idx") {
			t.Errorf("plan does not use the model_versions index:\n%s", p)
		}
	})
}
