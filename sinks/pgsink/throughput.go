package pgsink

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// ThroughputSchema holds the scratch tables Throughput creates and drops.
const ThroughputSchema = "chorus_bench"

// Throughput measures Write against the server at dsn: it migrates a
// scratch table in ThroughputSchema, writes rows fresh results in Writes of
// batch rows, one Write at a time on one connection, drops the table and
// returns rows committed per second (the table's creation and the result
// building are not timed). For `chorus bench`; the numbers depend on the
// server's disk (every Write waits for its commit to be flushed).
func Throughput(ctx context.Context, dsn string, rows, batch int) (rowsPerSec float64, err error) {
	if rows <= 0 || batch <= 0 {
		return 0, errkind.Errorf(errkind.InvalidInput, ReasonBadArgument, "pgsink: throughput: rows (%d) and batch (%d) must be positive", rows, batch)
	}
	table := fmt.Sprintf("throughput_%d_%d", os.Getpid(), time.Now().UnixNano())
	n, err := newNames(ThroughputSchema, table)
	if err != nil {
		return 0, errkind.New(errkind.Permanent, ReasonBadName, fmt.Errorf("pgsink: %w", err))
	}
	if _, err := MigrateDSN(ctx, dsn, ThroughputSchema, table); err != nil {
		return 0, err
	}
	defer func() {
		if derr := dropTable(context.WithoutCancel(ctx), dsn, n); derr != nil && err == nil {
			err = derr
		}
	}()
	s, err := Open(ctx, Options{DSN: dsn, Schema: ThroughputSchema, Table: table, MaxConns: 1})
	if err != nil {
		return 0, err
	}
	defer s.Close(context.WithoutCancel(ctx))

	batches := make([][]sinks.Result, 0, (rows+batch-1)/batch)
	for first := 0; first < rows; first += batch {
		b := make([]sinks.Result, min(batch, rows-first))
		for i := range b {
			b[i] = syntheticResult(first + i)
		}
		batches = append(batches, b)
	}
	start := time.Now()
	for _, b := range batches {
		if err := s.Write(ctx, b); err != nil {
			return 0, err
		}
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}

// syntheticResult is the i-th result of a throughput run: a typical row
// (three models, two tags).
func syntheticResult(i int) sinks.Result {
	return sinks.Result{
		Tenant:          fmt.Sprintf("tenant-%d", i%7),
		ResponseID:      fmt.Sprintf("r-%09d", i),
		Pipeline:        "default",
		PipelineVersion: "bench",
		SentimentLabel:  "positive",
		SentimentScore:  float64(i%1000) / 1000,
		Tags: []sinks.Tag{
			{Tag: "billing", Score: 0.731, Models: []string{"topics", "acme-topics"}},
			{Tag: "support", Score: 0.6, Models: []string{"topics"}},
		},
		ModelVersions:   map[string]string{"sentiment-nb": "3.1.0", "topics": "7", "acme-topics": "2026-10-01"},
		RunID:           "bench",
		SourceMessageID: fmt.Sprintf("msg-%d", i),
		ScoredAt:        time.Now(),
	}
}

// dropTable removes a table, its view and its migration records.
func dropTable(ctx context.Context, dsn string, n names) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cfg, err := parseConnConfig(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return classify(ctx, "drop: connect", err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return classify(ctx, "drop", err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, "DROP TABLE "+n.Table+" CASCADE"); err != nil {
		return classify(ctx, "drop", err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM "+n.Migrations+" WHERE table_name = $1", n.table); err != nil {
		return classify(ctx, "drop", err)
	}
	return classify(ctx, "drop: commit", tx.Commit(ctx))
}
