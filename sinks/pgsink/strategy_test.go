package pgsink

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
)

// The write strategies Write's choice was measured against (see the
// package comment). Each writes distinct keys (after dedupe) in one
// transaction.

// upsertUnnest is what Write does: one INSERT … SELECT FROM unnest(…).
func (s *Sink) upsertUnnest(ctx context.Context, rows []row) error {
	_, err := s.pool.Exec(ctx, s.upsertSQL, arrays(rows)...)
	return err
}

// upsertCopy is COPY into an ON COMMIT DROP staging table, then
// INSERT … SELECT … ON CONFLICT.
func (s *Sink) upsertCopy(ctx context.Context, rows []row) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE chorus_stage (
		tenant text, response_id text, pipeline text, pipeline_version text, sentiment_label text,
		sentiment_score float8, tags jsonb, model_versions jsonb, partial bool, run_id text,
		source_message_id text, scored_at timestamptz) ON COMMIT DROP`); err != nil {
		return err
	}
	cols := []string{"tenant", "response_id", "pipeline", "pipeline_version", "sentiment_label",
		"sentiment_score", "tags", "model_versions", "partial", "run_id", "source_message_id", "scored_at"}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "chorus_stage"}, cols,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].values(), nil })); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+s.names.Table+" ("+columnList+`)
		SELECT tenant, response_id, pipeline, pipeline_version, sentiment_label, sentiment_score,
			tags, model_versions, partial, NULLIF(run_id, ''), source_message_id, scored_at
		FROM pg_temp.chorus_stage`+onConflict); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// upsertBatch is a pgx.Batch of single-row INSERT … ON CONFLICT, pipelined
// in one transaction.
func (s *Sink) upsertBatch(ctx context.Context, rows []row) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(tx)
	var b pgx.Batch
	for i := range rows {
		b.Queue(s.upsertOneSQL, rows[i].values()...)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// benchRows returns n results with keys no earlier call returned.
func benchRows(seq *int, n int) []sinks.Result {
	out := make([]sinks.Result, n)
	for i := range out {
		*seq++
		out[i] = sinks.Result{
			Tenant: "acme", ResponseID: fmt.Sprintf("r-%09d", *seq), Pipeline: "default", PipelineVersion: "2026.11.1",
			SentimentLabel: "positive", SentimentScore: 0.75,
			Tags:            []sinks.Tag{{Tag: "billing", Score: 0.731, Models: []string{"topics", "acme-topics"}}, {Tag: "support", Score: 0.6, Models: []string{"topics"}}},
			ModelVersions:   map[string]string{"sentiment-nb": "3.1.0", "topics": "7", "acme-topics": "2026-10-01"},
			SourceMessageID: fmt.Sprintf("msg-%d", *seq), ScoredAt: time.Now(),
		}
	}
	return out
}

// BenchmarkUpsertStrategy compares ways to write one batch of fresh keys.
// Each iteration writes one batch with every strategy, in rotating order,
// each to a table of its own, so that load from outside the benchmark
// falls on all of them alike; it reports rows/s per strategy. Its numbers
// are in the package comment.
func BenchmarkUpsertStrategy(b *testing.B) {
	srv := pgtest.Start(b)
	ctx := context.Background()
	runs := 0 // fresh tables per run: every key is new
	strategies := []struct {
		name string
		run  func(*Sink, context.Context, []row) error
	}{
		{"unnest", (*Sink).upsertUnnest},
		{"copy", (*Sink).upsertCopy},
		{"batch", (*Sink).upsertBatch},
	}
	for _, rtt := range []time.Duration{0, time.Millisecond} {
		for _, size := range []int{500, 5000} {
			b.Run(fmt.Sprintf("rtt=%v/rows=%d", rtt, size), func(b *testing.B) {
				runs++
				dsn := srv.DSN()
				if rtt > 0 {
					dsn = strings.Replace(dsn, srv.Addr(), latencyProxy(b, srv.Addr(), rtt/2), 1)
				}
				sinks := make([]*Sink, len(strategies))
				for i, st := range strategies {
					table := fmt.Sprintf("strategy_%d_%s_%d", runs, st.name, size)
					if _, err := MigrateDSN(ctx, srv.DSN(), "bench", table); err != nil {
						b.Fatal(err)
					}
					s, err := Open(ctx, Options{DSN: dsn, Schema: "bench", Table: table, MaxConns: 1})
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close(ctx)
					sinks[i] = s
				}
				spent := make([]time.Duration, len(strategies))
				seq, turn := 0, 0
				for b.Loop() {
					good, _ := prepare(benchRows(&seq, size))
					good = dedupe(good)
					turn++
					for k := range strategies {
						i := (turn + k) % len(strategies)
						start := time.Now()
						if err := strategies[i].run(sinks[i], ctx, good); err != nil {
							b.Fatal(err)
						}
						spent[i] += time.Since(start)
					}
				}
				for i, st := range strategies {
					b.ReportMetric(float64(b.N*size)/spent[i].Seconds(), st.name+"-rows/s")
				}
			})
		}
	}
}

// latencyProxy forwards TCP connections to target, delaying every chunk by
// oneWay in each direction (latency, not bandwidth: chunks queue, they do
// not wait for each other), and returns its address. It stops when b ends.
func latencyProxy(b *testing.B, target string, oneWay time.Duration) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn) {
		type chunk struct {
			data []byte
			at   time.Time
		}
		q := make(chan chunk, 1024)
		wg.Go(func() {
			defer close(q)
			for {
				buf := make([]byte, 64<<10)
				n, err := src.Read(buf)
				if n > 0 {
					q <- chunk{buf[:n], time.Now().Add(oneWay)}
				}
				if err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			defer dst.Close()
			for c := range q {
				time.Sleep(time.Until(c.at))
				if _, err := dst.Write(c.data); err != nil {
					src.Close()
					return
				}
			}
		})
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			pipe(up, c)
			pipe(c, up)
		}
	})
	return ln.Addr().String()
}
