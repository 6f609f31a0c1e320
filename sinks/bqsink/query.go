package bqsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons of the errors QueryReader returns, besides ReasonBadConfig.
const (
	// ReasonBadQuery: BigQuery refused the query.
	ReasonBadQuery errkind.Reason = "bad_query"
	// ReasonQuery: reading the query's rows failed part way.
	ReasonQuery errkind.Reason = "query"
)

// QueryReader streams the rows of a query (standard SQL), any query: not
// the results table's.
type QueryReader struct {
	client *bigquery.Client
	it     *bigquery.RowIterator
	n      int64
}

// OpenQuery starts the query in project, as SELECT * FROM (<query>) q
// ORDER BY <orderBy>: orderBy is an SQL ORDER BY list, so that every read
// of the query yields the same order. A trailing semicolon of query is
// dropped. opts are client options (an endpoint override for tests,
// credentials).
func OpenQuery(ctx context.Context, project, query, orderBy string, opts ...option.ClientOption) (*QueryReader, error) {
	if project == "" || query == "" {
		return nil, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "bqsink: BigQuery needs a project and a query")
	}
	client, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, ReasonBadConfig, fmt.Errorf("bqsink: BigQuery client: %w", err))
	}
	// A query typed by hand may end in a semicolon, which a subquery must
	// not.
	q := "SELECT * FROM (" + strings.TrimRight(query, "; \n\t\r") + ") q ORDER BY " + orderBy
	it, err := client.Query(q).Read(ctx)
	if err != nil {
		client.Close()
		return nil, errkind.New(errkind.Permanent, ReasonBadQuery, fmt.Errorf("bqsink: BigQuery query: %w", err))
	}
	return &QueryReader{client: client, it: it}, nil
}

// Total is the number of rows the query returns, known once the first row
// has been read (-1 before).
func (r *QueryReader) Total() int64 {
	if r.n == 0 {
		return -1
	}
	return int64(r.it.TotalRows)
}

// Next returns the next row's columns (values as the BigQuery client
// returns them, in no particular order), or io.EOF after the last row.
func (r *QueryReader) Next(ctx context.Context) ([]sinks.Column, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var row map[string]bigquery.Value
	err := r.it.Next(&row)
	if errors.Is(err, iterator.Done) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, errkind.New(errkind.Retryable, ReasonQuery, fmt.Errorf("bqsink: reading BigQuery rows: %w", err))
	}
	r.n++
	cols := make([]sinks.Column, 0, len(row))
	for name, v := range row {
		cols = append(cols, sinks.Column{Name: name, Value: v})
	}
	return cols, nil
}

// Close closes the client.
func (r *QueryReader) Close() error { return r.client.Close() }
