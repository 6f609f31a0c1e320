package backfill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

// RowReader is a warehouse driver's reader of a query's rows
// (pgsink.QueryReader, bqsink.QueryReader), opened with QueryOrder.
type RowReader interface {
	// Next returns the next row's columns, or io.EOF after the last row.
	// Its errors are classified.
	Next(ctx context.Context) ([]sinks.Column, error)
	// Total is the number of rows, or -1 when it is not known (yet).
	Total() int64
	Close() error
}

// QueryOrder is the ORDER BY list a query input must be read in: every
// attempt of a run reads the same order, which resume relies on.
const QueryOrder = "tenant, response_id"

// FromRows returns a Reader of the jobs rows holds. The query must return
// the columns response_id, tenant and text, and may return survey_id,
// created_at, score, lang and metadata; other columns are ignored.
func FromRows(rows RowReader) Reader { return &rowsReader{rows: rows} }

type rowsReader struct {
	rows RowReader
	n    int64
}

// QueryHash is the input identity of a query.
func QueryHash(query string) string {
	h := sha256.Sum256([]byte(query))
	return hex.EncodeToString(h[:])
}

// Total implements Reader.
func (r *rowsReader) Total() int64 { return r.rows.Total() }

// Read implements Reader.
func (r *rowsReader) Read(ctx context.Context) (job.Job, error) {
	cols, err := r.rows.Next(ctx)
	if err != nil {
		return job.Job{}, err
	}
	r.n++
	var j job.Job
	for _, c := range cols {
		if err := setColumn(&j, c.Name, c.Value); err != nil {
			return job.Job{}, errkind.New(errkind.InvalidInput, ReasonBadRow, fmt.Errorf("backfill: row %d: %w", r.n, err))
		}
	}
	if err := validate(j); err != nil {
		return job.Job{}, errkind.New(errkind.InvalidInput, ReasonBadRow, fmt.Errorf("backfill: row %d: %w", r.n, err))
	}
	return j, nil
}

// Close implements Reader.
func (r *rowsReader) Close() error { return r.rows.Close() }
