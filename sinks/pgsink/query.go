package pgsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons of the errors QueryReader returns, besides ReasonBadDSN and
// ReasonConnect.
const (
	// ReasonBadConfig: OpenQuery was given no query.
	ReasonBadConfig errkind.Reason = "bad_config"
	// ReasonBadQuery: the server refused the query.
	ReasonBadQuery errkind.Reason = "bad_query"
	// ReasonQuery: reading the query's rows failed part way.
	ReasonQuery errkind.Reason = "query"
	// ReasonBadRow: a row's values could not be decoded.
	ReasonBadRow errkind.Reason = "bad_row"
)

// QueryReader streams the rows of a query, any query: not the results
// table's. It holds one connection; it is not safe for concurrent use.
type QueryReader struct {
	conn  *pgx.Conn
	rows  pgx.Rows
	names []string
	total int64
	n     int64
}

// OpenQuery connects to dsn, counts the query's rows and starts reading
// them, as SELECT * FROM (<query>) q ORDER BY <orderBy>: orderBy is an SQL
// ORDER BY list, so that every read of the query yields the same order. A
// trailing semicolon of query is dropped.
func OpenQuery(ctx context.Context, dsn, query, orderBy string) (*QueryReader, error) {
	if query == "" {
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "pgsink: empty Postgres query")
	}
	conn, err := connectOne(ctx, dsn, "Postgres")
	if err != nil {
		return nil, err
	}
	// A query typed by hand may end in a semicolon, which a subquery must
	// not.
	q := strings.TrimRight(query, "; \n\t\r")
	r := &QueryReader{conn: conn}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+q+") q").Scan(&r.total); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, errkind.New(errkind.Permanent, ReasonBadQuery, fmt.Errorf("pgsink: counting the query's rows: %w", err))
	}
	rows, err := conn.Query(ctx, "SELECT * FROM ("+q+") q ORDER BY "+orderBy)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, errkind.New(errkind.Permanent, ReasonBadQuery, fmt.Errorf("pgsink: query: %w", err))
	}
	for _, fd := range rows.FieldDescriptions() {
		r.names = append(r.names, fd.Name)
	}
	r.rows = rows
	return r, nil
}

// Total is the number of rows the query returns, counted when it opened.
func (r *QueryReader) Total() int64 { return r.total }

// Next returns the next row's columns in the query's order (values as pgx
// returns them), or io.EOF after the last row.
func (r *QueryReader) Next(ctx context.Context) ([]sinks.Column, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return nil, errkind.New(errkind.Retryable, ReasonQuery, fmt.Errorf("pgsink: reading query rows: %w", err))
		}
		return nil, io.EOF
	}
	r.n++
	vals, err := r.rows.Values()
	if err != nil {
		return nil, errkind.New(errkind.InvalidInput, ReasonBadRow, fmt.Errorf("pgsink: row %d: %w", r.n, err))
	}
	cols := make([]sinks.Column, len(vals))
	for i, v := range vals {
		cols[i] = sinks.Column{Name: r.names[i], Value: v}
	}
	return cols, nil
}

// Close ends the query and closes the connection.
func (r *QueryReader) Close() error {
	r.rows.Close()
	return errors.Join(r.conn.Close(context.Background()))
}
