package sinktest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
)

// redeliveryCases are about redelivery: the same batch written again (by
// another Sink, or by several at once) and a key repeated within one batch
// must never leave a duplicate row, and the last write of a key wins.
// Every sink runs them; they were written with the BigQuery driver, whose
// upserts are applied by the server, in mind.
var redeliveryCases = []suiteCase{
	{Name: "redelivery/redelivered_batch_one_row_per_key", Run: redeliveryCaseSameBatch},
	{Name: "redelivery/redelivered_batch_concurrently", Run: redeliveryCaseConcurrent},
	{Name: "redelivery/key_three_times_in_one_batch_last_wins", Run: redeliveryCaseKeyThrice},
	{Name: "redelivery/key_repeated_in_batch_later_row_bad", Run: redeliveryCaseLaterBad},
	{Name: "redelivery/redelivered_two_pipeline_versions", Run: redeliveryCaseVersions},
}

// redeliveryCaseSameBatch writes a batch, then the same batch again from a
// second Sink (another worker got the redelivery), then a rescored copy.
func redeliveryCaseSameBatch(t *testing.T, e *env) {
	batch := rows(0, 20)
	first := e.open()
	e.write(first, batch...)
	second := e.open()
	e.write(second, batch...)
	e.expect(batch...)

	rescored := slices.Clone(batch)
	for i := range rescored {
		rescored[i].SentimentScore = -rescored[i].SentimentScore
		rescored[i].ScoredAt = rescored[i].ScoredAt.Add(26 * time.Hour) // another day
	}
	e.write(first, rescored...)
	e.close(first)
	e.close(second)
	e.expect(rescored...)
}

// redeliveryCaseConcurrent writes one batch from four Sinks at once.
func redeliveryCaseConcurrent(t *testing.T, e *env) {
	batch := rows(100, 25)
	var open []sinks.Sink
	for range 4 {
		open = append(open, e.open())
	}
	var wg sync.WaitGroup
	for _, s := range open {
		wg.Go(func() {
			if err := s.Write(e.ctx, batch); err != nil {
				t.Errorf("write: %v", err)
			}
		})
	}
	wg.Wait()
	e.expect(batch...)
}

// redeliveryCaseKeyThrice repeats a key three times in one batch.
func redeliveryCaseKeyThrice(t *testing.T, e *env) {
	s := e.open()
	v1, v2, v3 := Row(1), Row(1), Row(1)
	v2.SentimentScore, v3.SentimentScore = 0.25, -0.5
	v3.Tags = []sinks.Tag{{Tag: "latest", Score: 1, Models: []string{"m"}}}
	e.write(s, v1, v2, Row(2), v3, Row(3))
	e.expect(v3, Row(2), Row(3))
}

// redeliveryCaseLaterBad repeats a key in one batch and makes the later
// copy bad: the earlier one is committed, the later reported by index.
func redeliveryCaseLaterBad(t *testing.T, e *env) {
	later := Row(1)
	later.SentimentScore = 0.5
	bad, ok := e.h.BadRow(later)
	if !ok {
		t.Skip("sink has no notion of a bad row")
	}
	s := e.open()
	err := s.Write(e.ctx, []sinks.Result{Row(1), Row(2), bad})
	re, ok := sinks.AsRowErrors(err)
	if !ok {
		t.Fatalf("write = %v, want RowErrors", err)
	}
	if len(re) != 1 || re[0].Index != 2 {
		t.Errorf("row errors %v, want one, at index 2", re)
	}
	e.expect(Row(1), Row(2))
}

// redeliveryCaseVersions redelivers rows of two pipeline versions of the
// same responses: one row per version, never merged, never doubled.
func redeliveryCaseVersions(t *testing.T, e *env) {
	old := rows(0, 5)
	next := rows(0, 5)
	for i := range next {
		next[i].PipelineVersion = "2026.12.0"
		next[i].SentimentLabel = "negative"
	}
	s := e.open()
	batch := append(slices.Clone(old), next...)
	e.write(s, batch...)
	e.write(s, batch...)
	e.write(s, next...)
	e.expect(batch...)
}
