package backfill

import (
	"context"

	"github.com/chorusml/chorus/sinks"
)

// Key identifies a response.
type Key = sinks.ResponseKey

// StaleChecker finds which responses already have a result of a pipeline
// version, so --stale-version skips them. One call per batch of keys.
// pgsink.Results and bqsink.Results implement it.
type StaleChecker interface {
	// Scored returns the subset of keys with a row of pipeline version.
	Scored(ctx context.Context, version string, keys []Key) (map[Key]bool, error)
	Close() error
}

// staleBatch is how many keys one stale check asks about.
const staleBatch = 1000
