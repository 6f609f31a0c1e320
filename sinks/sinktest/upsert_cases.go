package sinktest

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// upsertCases go beyond the base cases, aimed at set-based upserts (a
// database's INSERT … ON CONFLICT or MERGE), and every sink runs them:
// large batches, keys repeated within a batch, concurrent writers on
// overlapping keys, empty optional fields and extreme values, and a batch
// of bad rows only.
var upsertCases = []suiteCase{
	{Name: "upsert/large_batch", Run: upsertCaseLargeBatch},
	{Name: "upsert/key_repeated_in_batch_last_wins", Run: upsertCaseKeyRepeated},
	{Name: "upsert/versions_of_one_response_in_batch", Run: upsertCaseVersions},
	{Name: "upsert/overlapping_concurrent_writes", Run: upsertCaseOverlapping},
	{Name: "upsert/empty_optional_fields", Run: upsertCaseEmptyOptional},
	{Name: "upsert/extreme_values", Run: upsertCaseExtremeValues},
	{Name: "upsert/only_bad_rows", Run: upsertCaseOnlyBadRows},
}

func upsertCaseLargeBatch(t *testing.T, e *env) {
	s := e.open()
	batch := rows(0, 3000)
	for i := range batch {
		batch[i].SentimentScore = float64(i%1000) / 1000
	}
	e.write(s, batch...)
	e.expect(batch...)
}

func upsertCaseKeyRepeated(t *testing.T, e *env) {
	s := e.open()
	a1, a2, a3 := Row(1), Row(1), Row(1)
	a2.SentimentScore, a2.Tags = 0.25, nil
	a3.SentimentScore, a3.SentimentLabel = 0.5, "neutral"
	a3.ScoredAt = a1.ScoredAt.Add(-time.Hour) // the last written wins, not the latest scored
	e.write(s, a1, Row(2), a2, Row(3), a3, Row(2))
	e.expect(a3, Row(2), Row(3))
}

func upsertCaseVersions(t *testing.T, e *env) {
	s := e.open()
	var batch []sinks.Result
	for i, v := range []string{"2026.11.1", "2026.12.0", "2027.01.0"} {
		r := Row(7)
		r.PipelineVersion, r.SentimentScore = v, float64(i)/4
		batch = append(batch, r)
	}
	e.write(s, batch...)
	e.expect(batch...)
}

// upsertCaseOverlapping has writers upsert the same keys in
// different orders at once. Retryable errors are retried a few times, as
// the worker would; the end state must hold each key once, as one of the
// versions written.
func upsertCaseOverlapping(t *testing.T, e *env) {
	const writers, rounds, keys = 6, 4, 60
	s := e.open()
	version := func(w, i int) sinks.Result {
		r := Row(i)
		r.SentimentScore = float64(w) / 10
		r.SourceMessageID = fmt.Sprintf("writer-%d", w)
		return r
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for round := range rounds {
				batch := make([]sinks.Result, keys)
				for i := range batch {
					batch[i] = version(w, i)
				}
				if (w+round)%2 == 1 {
					slices.Reverse(batch)
				}
				var err error
				for range 5 {
					if err = s.Write(e.ctx, batch); err == nil || !errkind.IsRetryable(err) {
						break
					}
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := e.readAll()
	if len(got) != keys {
		t.Errorf("%d rows, want %d", len(got), keys)
	}
	for i := range keys {
		r := Row(i)
		k := r.Key()
		g, ok := got[k]
		if !ok {
			t.Errorf("row %+v missing", k)
			continue
		}
		var w int
		if _, err := fmt.Sscanf(g.SourceMessageID, "writer-%d", &w); err != nil || w < 0 || w >= writers {
			t.Errorf("row %+v has source_message_id %q, not one a writer wrote", k, g.SourceMessageID)
			continue
		}
		if want := normalize(version(w, i)); !reflect.DeepEqual(normalize(g), want) {
			t.Errorf("row %+v mixes writers:\n got %+v\nwant %+v", k, normalize(g), want)
		}
	}
}

func upsertCaseEmptyOptional(t *testing.T, e *env) {
	s := e.open()
	r := Row(3)
	r.SentimentLabel, r.SentimentScore = "", 0 // no sentiment model routed
	r.Tags, r.ModelVersions, r.RunID = nil, nil, ""
	r.Partial = true
	empty := Row(4)
	empty.Tags, empty.ModelVersions = []sinks.Tag{}, map[string]string{}
	noModels := Row(5)
	noModels.Tags = []sinks.Tag{{Tag: "pricing", Score: 0.5}}
	e.write(s, r, empty, noModels)
	e.expect(r, empty, noModels)
}

func upsertCaseExtremeValues(t *testing.T, e *env) {
	s := e.open()
	low, high, odd := Row(1), Row(2), Row(3)
	low.SentimentScore, high.SentimentScore = -1, 1
	low.Tags = []sinks.Tag{{Tag: "tiny", Score: 1e-300, Models: []string{"m"}}, {Tag: "negative", Score: -math.MaxFloat32, Models: []string{"m"}}}
	high.Tags = []sinks.Tag{{Tag: "huge", Score: 1e300, Models: []string{"m"}}, {Tag: "third", Score: 1.0 / 3, Models: []string{"m"}}}
	low.ScoredAt = time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC)
	high.ScoredAt = time.Date(2199, 12, 31, 23, 59, 59, 999999000, time.UTC)
	odd.Tenant = "ténant 租户 🚀"
	odd.ResponseID = `r "quoted" \ back\slash, comma; semi` + "\ttab\nnewline"
	odd.PipelineVersion = "v'1'"
	odd.SourceMessageID = strings.Repeat("m", 4096)
	odd.ModelVersions = map[string]string{"mödel \"x\"": "1.0 ✓", "a.b/c": ""}
	e.write(s, low, high, odd)
	e.expect(low, high, odd)
}

func upsertCaseOnlyBadRows(t *testing.T, e *env) {
	batch := rows(0, 3)
	for i := range batch {
		bad, ok := e.h.BadRow(batch[i])
		if !ok {
			t.Skip("sink has no notion of a bad row")
		}
		batch[i] = bad
	}
	s := e.open()
	re, ok := sinks.AsRowErrors(s.Write(e.ctx, batch))
	if !ok {
		t.Fatal("write of bad rows only did not return RowErrors")
	}
	var idx []int
	for _, r := range re {
		idx = append(idx, r.Index)
	}
	if slices.Sort(idx); !slices.Equal(idx, []int{0, 1, 2}) {
		t.Errorf("rejected rows %v, want [0 1 2]", idx)
	}
	e.expect()
	// The sink is still usable.
	e.write(s, Row(9))
	e.expect(Row(9))
}
