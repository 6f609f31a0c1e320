package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

// PostgresReader streams the rows of a query. The query must return the
// columns response_id, tenant and text, and may return survey_id,
// created_at, score, lang and metadata; other columns are ignored. It is
// run as SELECT * FROM (<query>) q ORDER BY tenant, response_id so that
// every attempt of a run reads the same order.
type PostgresReader struct {
	conn  *pgx.Conn
	rows  pgx.Rows
	names []string
	total int64
	n     int64
}

// OpenPostgres connects to dsn, counts the query's rows and starts
// reading them.
func OpenPostgres(ctx context.Context, dsn, query string) (*PostgresReader, error) {
	if query == "" {
		return nil, errkind.Errorf(errkind.Permanent, "bad_config", "backfill: empty Postgres query")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN: never show it.
		return nil, errkind.Errorf(errkind.Permanent, "bad_dsn", "backfill: invalid Postgres DSN (its text is withheld)")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, errkind.New(errkind.Retryable, "connect", fmt.Errorf("backfill: connect to Postgres: %w", err))
	}
	r := &PostgresReader{conn: conn}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+trimSemicolon(query)+") q").Scan(&r.total); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, errkind.New(errkind.Permanent, "bad_query", fmt.Errorf("backfill: counting the query's rows: %w", err))
	}
	rows, err := conn.Query(ctx, orderedQuery(query))
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, errkind.New(errkind.Permanent, "bad_query", fmt.Errorf("backfill: query: %w", err))
	}
	for _, fd := range rows.FieldDescriptions() {
		r.names = append(r.names, fd.Name)
	}
	r.rows = rows
	return r, nil
}

// QueryHash is the input identity of a query.
func QueryHash(query string) string {
	h := sha256.Sum256([]byte(query))
	return hex.EncodeToString(h[:])
}

// Total implements Reader.
func (r *PostgresReader) Total() int64 { return r.total }

// Read implements Reader.
func (r *PostgresReader) Read(ctx context.Context) (job.Job, error) {
	if err := ctx.Err(); err != nil {
		return job.Job{}, err
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return job.Job{}, errkind.New(errkind.Retryable, "query", fmt.Errorf("backfill: reading query rows: %w", err))
		}
		return job.Job{}, io.EOF
	}
	r.n++
	vals, err := r.rows.Values()
	if err != nil {
		return job.Job{}, errkind.New(errkind.InvalidInput, "bad_row", fmt.Errorf("backfill: row %d: %w", r.n, err))
	}
	var j job.Job
	for i, v := range vals {
		if err := setColumn(&j, r.names[i], v); err != nil {
			return job.Job{}, errkind.New(errkind.InvalidInput, "bad_row", fmt.Errorf("backfill: row %d: %w", r.n, err))
		}
	}
	if err := validate(j); err != nil {
		return job.Job{}, errkind.New(errkind.InvalidInput, "bad_row", fmt.Errorf("backfill: row %d: %w", r.n, err))
	}
	return j, nil
}

// Close implements Reader.
func (r *PostgresReader) Close() error {
	r.rows.Close()
	return errors.Join(r.conn.Close(context.Background()))
}
