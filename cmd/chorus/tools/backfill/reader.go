package backfill

import (
	"context"

	"github.com/chorusml/chorus/worker/job"
)

// Reader yields jobs in a deterministic order. Read returns io.EOF after
// the last job. Implementations are not safe for concurrent use.
type Reader interface {
	// Read returns the next job.
	Read(ctx context.Context) (job.Job, error)
	// Total is the number of records the reader will yield, or -1 when it
	// is not known.
	Total() int64
	// Close releases the reader.
	Close() error
}

// Source kinds, recorded in a checkpoint's Identity.
const (
	KindJSONL    = "jsonl"
	KindPostgres = "postgres"
	KindBigQuery = "bigquery"
)
