package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

func readAll(ctx context.Context, t *testing.T, r Reader) []job.Job {
	t.Helper()
	var jobs []job.Job
	for {
		j, err := r.Read(ctx)
		if errors.Is(err, io.EOF) {
			return jobs
		}
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
}

func fp(f float64) *float64 { return &f }

// openPostgres reads query through pgsink's reader, as the chorus command
// does.
func openPostgres(ctx context.Context, dsn, query string) (Reader, error) {
	rows, err := pgsink.OpenQuery(ctx, dsn, query, QueryOrder)
	if err != nil {
		return nil, err
	}
	return FromRows(rows), nil
}

// A Postgres query's column types as pgx returns them (through pgsink's
// reader) map to job fields:
// numeric, integer and floating scores, json and jsonb metadata (and JSON
// in a text column), timestamptz, timestamp and date created_at, non-text
// ids, and NULLs, which leave the field empty.
func TestPostgresReaderTypes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pg := pgtest.Start(t)
	base := func(rid string) job.Job { return job.Job{ResponseID: rid, Tenant: "acme", Text: "slow app"} }
	with := func(j job.Job, f func(*job.Job)) job.Job { f(&j); return j }
	created := time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC)

	cases := []struct {
		name, query string
		want        []job.Job
	}{
		{"numeric score, jsonb metadata, timestamptz",
			`SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 7.25::numeric(4,2) AS score,
			        '{"plan": "pro", "seats": 12, "tags": ["a", null]}'::jsonb AS metadata,
			        timestamptz '2026-11-01 10:30:00+02' AS created_at, 's-9' AS survey_id, 'en' AS lang`,
			[]job.Job{with(base("r-1"), func(j *job.Job) {
				j.Score, j.CreatedAt, j.SurveyID, j.Lang = fp(7.25), &created, "s-9", "en"
				j.Metadata = json.RawMessage(`{"plan":"pro","seats":12,"tags":["a",null]}`)
			})}},
		{"integer scores",
			`SELECT * FROM (VALUES ('r-1', 'acme', 'slow app', 6::int4, 9::int8, 3::int2)) v(response_id, tenant, text, score, score8, score2)`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(6) })}},
		{"numeric scores and a NULL one",
			`SELECT 'r-' || i AS response_id, 'acme' AS tenant, 'slow app' AS text,
			        CASE i WHEN 1 THEN 9::int8::numeric WHEN 2 THEN (-3)::int2::numeric ELSE NULL END AS score
			 FROM generate_series(1, 3) i`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(9) }), with(base("r-2"), func(j *job.Job) { j.Score = fp(-3) }), base("r-3")}},
		{"bigint score", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 9000000000::int8 AS score`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(9e9) })}},
		{"smallint score", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, (-3)::int2 AS score`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(-3) })}},
		{"real score", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 2.5::real AS score`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(2.5) })}},
		{"double score", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 0.1::float8 AS score`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Score = fp(0.1) })}},
		{"json and text metadata",
			`SELECT * FROM (VALUES ('r-1', 'acme', 'slow app', '{"a": [1, 2]}'::json::text), ('r-2', 'acme', 'slow app', '["x"]')) v(response_id, tenant, text, metadata)`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Metadata = json.RawMessage(`{"a": [1, 2]}`) }),
				with(base("r-2"), func(j *job.Job) { j.Metadata = json.RawMessage(`["x"]`) })}},
		{"json metadata", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, '{"a": [1, 2]}'::json AS metadata`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.Metadata = json.RawMessage(`{"a":[1,2]}`) })}},
		{"timestamp and date created_at",
			`SELECT * FROM (VALUES ('r-1', 'acme', 'slow app', timestamp '2026-11-01 08:30:00'), ('r-2', 'acme', 'slow app', date '2026-11-01'::timestamp)) v(response_id, tenant, text, created_at)`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { j.CreatedAt = &created }),
				with(base("r-2"), func(j *job.Job) { t := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC); j.CreatedAt = &t })}},
		{"date created_at", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, date '2026-11-01' AS created_at`,
			[]job.Job{with(base("r-1"), func(j *job.Job) { t := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC); j.CreatedAt = &t })}},
		{"NULLs leave fields empty",
			`SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, NULL::numeric AS score, NULL::jsonb AS metadata,
			        NULL::timestamptz AS created_at, NULL::text AS survey_id, NULL::text AS lang, 'null'::jsonb AS other`,
			[]job.Job{base("r-1")}},
		{"JSON null metadata is no metadata", `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 'null'::jsonb AS metadata`,
			[]job.Job{base("r-1")}},
		{"non-text ids and varchar",
			`SELECT 1042::int8 AS response_id, 'acme'::varchar(10) AS tenant, 'slow app'::varchar AS text, 77 AS survey_id, 'en'::bpchar(2) AS lang`,
			[]job.Job{with(base("1042"), func(j *job.Job) { j.SurveyID, j.Lang = "77", "en" })}},
		{"numeric response_id", `SELECT 1042::numeric AS response_id, 'acme' AS tenant, 'slow app' AS text`,
			[]job.Job{base("1042")}},
		{"uuid response_id",
			`SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS response_id, 'acme' AS tenant, 'slow app' AS text`,
			[]job.Job{base("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := openPostgres(ctx, pg.DSN(), c.query)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Total() != int64(len(c.want)) {
				t.Fatalf("total %d, want %d", r.Total(), len(c.want))
			}
			got := readAll(ctx, t, r)
			if len(got) != len(c.want) {
				t.Fatalf("%d jobs, want %d", len(got), len(c.want))
			}
			for i := range got {
				if !sameJob(got[i], c.want[i]) {
					g, _ := json.Marshal(got[i])
					w, _ := json.Marshal(c.want[i])
					t.Fatalf("job %d:\n got %s\nwant %s", i, g, w)
				}
			}
		})
	}

	t.Run("a bad value names its row and column", func(t *testing.T) {
		r, err := openPostgres(ctx, pg.DSN(), `SELECT 'r-1' AS response_id, 'acme' AS tenant, 'slow app' AS text, 'NaN'::numeric AS score`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Read(ctx)
		if errkind.KindOf(err) != errkind.InvalidInput {
			t.Fatalf("error %v, want invalid input", err)
		}
		t.Log(err)
	})
	t.Run("a NULL required column fails the row", func(t *testing.T) {
		r, err := openPostgres(ctx, pg.DSN(), `SELECT 'r-1' AS response_id, 'acme' AS tenant, NULL::text AS text`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Read(ctx); errkind.KindOf(err) != errkind.InvalidInput {
			t.Fatalf("error %v, want invalid input", err)
		}
	})
}

// sameJob compares jobs, metadata as JSON values and times as instants.
func sameJob(a, b job.Job) bool {
	var am, bm any
	if (a.Metadata == nil) != (b.Metadata == nil) {
		return false
	}
	if a.Metadata != nil {
		if json.Unmarshal(a.Metadata, &am) != nil || json.Unmarshal(b.Metadata, &bm) != nil || !reflect.DeepEqual(am, bm) {
			return false
		}
	}
	if (a.CreatedAt == nil) != (b.CreatedAt == nil) || (a.CreatedAt != nil && !a.CreatedAt.Equal(*b.CreatedAt)) {
		return false
	}
	if (a.Score == nil) != (b.Score == nil) || (a.Score != nil && *a.Score != *b.Score) {
		return false
	}
	a.Metadata, b.Metadata, a.CreatedAt, b.CreatedAt, a.Score, b.Score = nil, nil, nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}
