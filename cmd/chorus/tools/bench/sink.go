package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
)

// SinkResult is Postgres sink throughput, batched against one row a write.
type SinkResult struct {
	Skipped            string // why it did not run, if it did not
	BatchRows          int
	BatchedRowsPerSec  float64
	OneByOneRowsPerSec float64
}

// PostgresSink starts a throwaway Postgres (Debian's server binaries) and
// measures pgsink writes: rows committed per second in 500-row writes and
// in one-row writes, one write at a time, each waiting for its commit.
func PostgresSink(ctx context.Context) (*SinkResult, error) {
	const batch = 500
	srv, err := pgtest.Launch(ctx, pgtest.Config{})
	if errors.Is(err, pgtest.ErrUnavailable) {
		return &SinkResult{Skipped: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	r := &SinkResult{BatchRows: batch}
	if r.BatchedRowsPerSec, err = pgsink.Throughput(ctx, srv.DSN(), 50*batch, batch); err != nil {
		return nil, fmt.Errorf("batched: %w", err)
	}
	if r.OneByOneRowsPerSec, err = pgsink.Throughput(ctx, srv.DSN(), 2000, 1); err != nil {
		return nil, fmt.Errorf("one by one: %w", err)
	}
	return r, nil
}
