package pgsink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
)

// BenchmarkWrite measures committed rows/s for one writer, writing fresh
// keys in batches of 500 (the worker's default sink.batch.max_rows) and
// one row at a time. Each Write waits for its commit to be flushed.
func BenchmarkWrite(b *testing.B) {
	srv := pgtest.Start(b)
	for _, batch := range []int{500, 1} {
		b.Run(fmt.Sprintf("rows_per_write=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			table := newTable(b, srv, "bench")
			s := open(b, pgsink.Options{DSN: srv.DSN(), Schema: "bench", Table: table, MaxConns: 1})
			seq := 0
			rows := make([]sinks.Result, batch)
			for b.Loop() {
				for i := range rows {
					seq++
					rows[i] = sinks.Result{
						Tenant: "acme", ResponseID: fmt.Sprintf("r-%09d", seq), Pipeline: "default", PipelineVersion: "v1",
						SentimentLabel: "positive", SentimentScore: 0.75,
						Tags:            []sinks.Tag{{Tag: "billing", Score: 0.73, Models: []string{"topics"}}},
						ModelVersions:   map[string]string{"sentiment-nb": "3.1.0", "topics": "7"},
						SourceMessageID: fmt.Sprintf("msg-%d", seq), ScoredAt: time.Now(),
					}
				}
				if err := s.Write(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func TestThroughput(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct{ rows, batch int }{{1000, 500}, {7, 3}, {5, 1}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("rows=%d/batch=%d", tc.rows, tc.batch), func(t *testing.T) {
			rps, err := pgsink.Throughput(ctx, srv.DSN(), tc.rows, tc.batch)
			if err != nil || rps <= 0 {
				t.Fatalf("throughput = %v, %v", rps, err)
			}
		})
	}
	// The scratch tables are gone.
	var n int
	if err := connect(t, srv).QueryRow(ctx,
		"SELECT count(*) FROM pg_tables WHERE schemaname = $1", pgsink.ThroughputSchema).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d tables left in %s (%v), want only %s", n, pgsink.ThroughputSchema, err, pgsink.MigrationsTable)
	}
	if _, err := pgsink.Throughput(ctx, srv.DSN(), 0, 1); err == nil {
		t.Error("throughput of 0 rows succeeded")
	}
}
