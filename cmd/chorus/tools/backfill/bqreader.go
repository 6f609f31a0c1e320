package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

// BigQueryReader streams the rows of a BigQuery query (standard SQL),
// wrapped like PostgresReader's for a stable order, with the same columns.
type BigQueryReader struct {
	client *bigquery.Client
	it     *bigquery.RowIterator
	n      int64
}

// OpenBigQuery starts the query in project. opts are client options (an
// endpoint override for tests, credentials).
func OpenBigQuery(ctx context.Context, project, query string, opts ...option.ClientOption) (*BigQueryReader, error) {
	if project == "" || query == "" {
		return nil, errkind.Errorf(errkind.Permanent, "bad_config", "backfill: BigQuery needs a project and a query")
	}
	client, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, errkind.New(errkind.Permanent, "bad_config", fmt.Errorf("backfill: BigQuery client: %w", err))
	}
	it, err := client.Query(orderedQuery(query)).Read(ctx)
	if err != nil {
		client.Close()
		return nil, errkind.New(errkind.Permanent, "bad_query", fmt.Errorf("backfill: BigQuery query: %w", err))
	}
	return &BigQueryReader{client: client, it: it}, nil
}

// Total implements Reader: known once the first page has arrived.
func (r *BigQueryReader) Total() int64 {
	if r.n == 0 {
		return -1
	}
	return int64(r.it.TotalRows)
}

// Read implements Reader.
func (r *BigQueryReader) Read(ctx context.Context) (job.Job, error) {
	if err := ctx.Err(); err != nil {
		return job.Job{}, err
	}
	var row map[string]bigquery.Value
	err := r.it.Next(&row)
	if errors.Is(err, iterator.Done) {
		return job.Job{}, io.EOF
	}
	if err != nil {
		return job.Job{}, errkind.New(errkind.Retryable, "query", fmt.Errorf("backfill: reading BigQuery rows: %w", err))
	}
	r.n++
	var j job.Job
	for name, v := range row {
		if err := setColumn(&j, name, v); err != nil {
			return job.Job{}, errkind.New(errkind.InvalidInput, "bad_row", fmt.Errorf("backfill: row %d: %w", r.n, err))
		}
	}
	if err := validate(j); err != nil {
		return job.Job{}, errkind.New(errkind.InvalidInput, "bad_row", fmt.Errorf("backfill: row %d: %w", r.n, err))
	}
	return j, nil
}

// Close implements Reader.
func (r *BigQueryReader) Close() error { return r.client.Close() }
