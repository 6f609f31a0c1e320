package pgsink

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons of the errors Results and QueryReader return.
const (
	// ReasonStaleCheck: Results.Scored's query failed.
	ReasonStaleCheck errkind.Reason = "stale_check"
	// ReasonCountRun: Results.CountRun's query failed.
	ReasonCountRun errkind.Reason = "count_run"
)

// Results reads a results table the sink wrote: which responses have a row
// of a pipeline version, and how many responses a run wrote. It holds one
// connection; it is not safe for concurrent use.
type Results struct {
	conn  *pgx.Conn
	table string // quoted
}

// OpenResults connects to dsn; schema and table name the results table
// (defaults DefaultSchema and DefaultTable).
func OpenResults(ctx context.Context, dsn, schema, table string) (*Results, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if table == "" {
		table = DefaultTable
	}
	conn, err := connectOne(ctx, dsn, "the sink's Postgres")
	if err != nil {
		return nil, err
	}
	return &Results{conn: conn, table: pgx.Identifier{schema, table}.Sanitize()}, nil
}

// connectOne opens one connection to dsn; what names the server in the
// error. Unlike Open it sets no defaults of its own on the connection.
func connectOne(ctx context.Context, dsn, what string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN: never show it.
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadDSN, "pgsink: invalid Postgres DSN (its text is withheld)")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, ReasonConnect, fmt.Errorf("pgsink: connect to %s: %w", what, err))
	}
	return conn, nil
}

// Scored returns the subset of keys with a row of pipeline version, with
// one parameterised query.
func (p *Results) Scored(ctx context.Context, version string, keys []sinks.ResponseKey) (map[sinks.ResponseKey]bool, error) {
	tenants := make([]string, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		tenants[i], ids[i] = k.Tenant, k.ResponseID
	}
	rows, err := p.conn.Query(ctx, `SELECT r.tenant, r.response_id FROM `+p.table+` r
		JOIN unnest($2::text[], $3::text[]) AS k(tenant, response_id)
		ON r.tenant = k.tenant AND r.response_id = k.response_id
		WHERE r.pipeline_version = $1`, version, tenants, ids)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, ReasonStaleCheck, fmt.Errorf("pgsink: stale-version check: %w", err))
	}
	out := map[sinks.ResponseKey]bool{}
	var k sinks.ResponseKey
	_, err = pgx.ForEachRow(rows, []any{&k.Tenant, &k.ResponseID}, func() error {
		out[k] = true
		return nil
	})
	if err != nil {
		return nil, errkind.New(errkind.Retryable, ReasonStaleCheck, fmt.Errorf("pgsink: stale-version check: %w", err))
	}
	return out, nil
}

// CountRun counts the distinct responses a run wrote.
func (p *Results) CountRun(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := p.conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT tenant, response_id FROM `+p.table+` WHERE run_id = $1) s`, runID).Scan(&n)
	if err != nil {
		return 0, errkind.New(errkind.Retryable, ReasonCountRun, fmt.Errorf("pgsink: counting the run's rows: %w", err))
	}
	return n, nil
}

// Close closes the connection.
func (p *Results) Close() error { return p.conn.Close(context.Background()) }
