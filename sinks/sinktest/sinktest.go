// Package sinktest is the conformance suite every sinks.Sink driver runs: a
// driver's test supplies a Harness that owns one empty table (or file), and
// Run checks the sinks.Sink contract against it — idempotent rewrites,
// batch atomicity, bad-row reporting, durability on Close, upserts and
// redeliveries.
//
// The suite calls the HarnessMaker once per case, so every case starts
// empty, and runs cases in parallel.
package sinktest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/testenv"
)

// Harness adapts one driver and its storage to the suite.
type Harness interface {
	// NewSink opens a Sink on the harness's storage. Sinks opened by one
	// harness share it, so rows written and closed by one are visible to
	// the next. The suite closes every Sink it opens.
	NewSink(ctx context.Context) (sinks.Sink, error)
	// ReadAll returns every committed row, one per key, as an independent
	// reader sees it (a fresh connection or a fresh read of the file), in
	// any order.
	ReadAll(ctx context.Context) ([]sinks.Result, error)
	// BadRow returns r changed so that the sink rejects it as bad in itself
	// (a constraint or schema violation) while accepting the rest of its
	// batch, or false if the sink has no such notion; the bad-row case is
	// then skipped.
	BadRow(r sinks.Result) (sinks.Result, bool)
	// Close releases the storage.
	Close()
}

// HarnessMaker makes a Harness on fresh, empty storage. The suite calls it
// from parallel cases.
type HarnessMaker func(ctx context.Context, t testing.TB) (Harness, error)

// caseTimeout bounds each case so a hang fails fast.
const caseTimeout = 10 * time.Second

// Run runs the whole suite against the driver newHarness makes: the base
// contract, the upsert cases (upsert_cases.go) and the redelivery cases
// (redelivery_cases.go). Every sink runs all of them: idempotent rewrites
// are part of the sinks.Sink contract, not an option. What a sink may lack
// (a notion of a bad row) it declares through Harness.BadRow, and the
// cases that need it are skipped.
func Run(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	cases := slices.Concat(baseCases, upsertCases, redeliveryCases)
	testenv.RunCases(t, cases, func(t *testing.T) *env {
		h := testenv.NewHarness(t, caseTimeout, newHarness)
		ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
		t.Cleanup(cancel)
		return &env{t: t, ctx: ctx, h: h}
	})
}

// suiteCase is one case of the suite.
type suiteCase = testenv.Case[*env]

var baseCases = []suiteCase{
	{Name: "write_and_read_back", Run: testWriteAndReadBack},
	{Name: "empty_batch", Run: testEmptyBatch},
	{Name: "same_key_twice_one_row", Run: testSameKeyTwice},
	{Name: "same_key_in_one_batch", Run: testSameKeyInOneBatch},
	{Name: "different_pipeline_version_two_rows", Run: testDifferentPipelineVersion},
	{Name: "batch_written_whole", Run: testBatchWrittenWhole},
	{Name: "bad_row_reported_by_index", Run: testBadRow},
	{Name: "close_flushes", Run: testCloseFlushes},
	{Name: "reopen_keeps_rows", Run: testReopen},
	{Name: "write_after_close", Run: testWriteAfterClose},
	{Name: "concurrent_writes", Run: testConcurrentWrites},
	{Name: "cancelled_context", Run: testCancelledContext},
}

// env is one case's harness plus helpers that fail the case on error.
type env struct {
	t   *testing.T
	ctx context.Context
	h   Harness
}

// open opens a Sink that is closed when the case ends.
func (e *env) open() sinks.Sink {
	e.t.Helper()
	s, err := e.h.NewSink(e.ctx)
	if err != nil {
		e.t.Fatalf("new sink: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx) // a case may have closed it already
	})
	return s
}

func (e *env) write(s sinks.Sink, rows ...sinks.Result) {
	e.t.Helper()
	if err := s.Write(e.ctx, rows); err != nil {
		e.t.Fatalf("write %d rows: %v", len(rows), err)
	}
}

func (e *env) close(s sinks.Sink) {
	e.t.Helper()
	if err := s.Close(e.ctx); err != nil {
		e.t.Fatalf("close: %v", err)
	}
}

// readAll reads every committed row, keyed.
func (e *env) readAll() map[sinks.Key]sinks.Result {
	e.t.Helper()
	rows, err := e.h.ReadAll(e.ctx)
	if err != nil {
		e.t.Fatalf("read all: %v", err)
	}
	out := make(map[sinks.Key]sinks.Result, len(rows))
	for _, r := range rows {
		k := r.Key()
		if _, dup := out[k]; dup {
			e.t.Errorf("key %+v read back twice", k)
		}
		out[k] = r
	}
	return out
}

// expect fails unless the committed rows are exactly want.
func (e *env) expect(want ...sinks.Result) {
	e.t.Helper()
	got := e.readAll()
	wantBy := make(map[sinks.Key]sinks.Result, len(want))
	for _, w := range want {
		wantBy[w.Key()] = w
	}
	for _, k := range sortedKeys(wantBy) {
		g, ok := got[k]
		if !ok {
			e.t.Errorf("row %+v missing", k)
			continue
		}
		if !reflect.DeepEqual(normalize(g), normalize(wantBy[k])) {
			e.t.Errorf("row %+v:\n got %+v\nwant %+v", k, normalize(g), normalize(wantBy[k]))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := wantBy[k]; !ok {
			e.t.Errorf("unexpected row %+v", k)
		}
	}
}

func sortedKeys(m map[sinks.Key]sinks.Result) []sinks.Key {
	return slices.SortedFunc(maps.Keys(m), func(a, b sinks.Key) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.ResponseID, b.ResponseID), cmp.Compare(a.PipelineVersion, b.PipelineVersion))
	})
}

// normalize erases differences a sink may legitimately introduce: nil
// versus empty collections, and the time zone of ScoredAt.
func normalize(r sinks.Result) sinks.Result {
	r.ScoredAt = r.ScoredAt.UTC()
	if len(r.ModelVersions) == 0 {
		r.ModelVersions = nil
	}
	if len(r.Tags) == 0 {
		r.Tags = nil
	}
	tags := make([]sinks.Tag, len(r.Tags))
	for i, tg := range r.Tags {
		if len(tg.Models) == 0 {
			tg.Models = nil
		}
		tags[i] = tg
	}
	if r.Tags != nil {
		r.Tags = tags
	}
	return r
}

// Row returns the i-th test row: every field set, with values that catch
// lossy storage (unicode, negative and fractional scores, microsecond
// times, empty and non-empty optional fields). Sinks must round-trip
// ScoredAt to the microsecond.
func Row(i int) sinks.Result {
	r := sinks.Result{
		Tenant:          "acme",
		ResponseID:      fmt.Sprintf("r-%04d", i),
		Pipeline:        "default",
		PipelineVersion: "2026.11.1",
		SentimentLabel:  "positive",
		SentimentScore:  0.8125 - float64(i)/1024,
		Tags: []sinks.Tag{
			{Tag: "billing", Score: 0.731, Models: []string{"topics-shared", "acme-custom"}},
			{Tag: "ünïcode ✓ app-crash", Score: -0.5 + float64(i)/3, Models: []string{"topics-shared"}},
		},
		ModelVersions:   map[string]string{"sentiment-shared": "3.1.0", "topics-shared": "7", "acme-custom": "2026-10-01"},
		Partial:         i%2 == 1,
		SourceMessageID: fmt.Sprintf("msg-%d", i),
		ScoredAt:        time.Date(2026, 11, 2, 10, 14, 0, 123456000, time.UTC).Add(time.Duration(i) * time.Microsecond),
	}
	if i%3 != 0 {
		r.RunID = "backfill-2026-11"
	}
	if i%5 == 4 {
		r.Tags = nil
		r.SentimentLabel = "neutral"
	}
	return r
}

// rows returns test rows first..first+n-1.
func rows(first, n int) []sinks.Result {
	out := make([]sinks.Result, n)
	for i := range out {
		out[i] = Row(first + i)
	}
	return out
}

func testWriteAndReadBack(t *testing.T, e *env) {
	s := e.open()
	want := rows(0, 10)
	// A far-from-UTC zone must come back as the same instant.
	want[1].ScoredAt = want[1].ScoredAt.In(time.FixedZone("UTC+13:45", 13*3600+45*60))
	e.write(s, want...)
	e.expect(want...)
}

func testEmptyBatch(t *testing.T, e *env) {
	s := e.open()
	e.write(s)
	e.expect()
}

func testSameKeyTwice(t *testing.T, e *env) {
	s := e.open()
	first := Row(1)
	e.write(s, first)
	second := Row(1)
	second.SentimentLabel, second.SentimentScore = "negative", -0.75
	second.Tags = []sinks.Tag{{Tag: "pricing", Score: 0.9, Models: []string{"acme-custom"}}}
	second.ModelVersions = map[string]string{"acme-custom": "2026-11-01"}
	second.Partial = !first.Partial
	second.ScoredAt = first.ScoredAt.Add(time.Hour)
	e.write(s, second)
	e.expect(second)
}

func testSameKeyInOneBatch(t *testing.T, e *env) {
	s := e.open()
	a, b := Row(1), Row(1)
	b.SentimentScore = 0.125
	b.ScoredAt = a.ScoredAt.Add(time.Second)
	e.write(s, a, Row(2), b)
	e.expect(b, Row(2))
}

func testDifferentPipelineVersion(t *testing.T, e *env) {
	s := e.open()
	a, b := Row(1), Row(1)
	b.PipelineVersion = "2026.12.0"
	b.SentimentScore = 0.25
	e.write(s, a)
	e.write(s, b)
	e.expect(a, b)
}

func testBatchWrittenWhole(t *testing.T, e *env) {
	s := e.open()
	for i := range 3 {
		batch := rows(i*100, 100)
		e.write(s, batch...)
		// Everything acked so far must be visible the moment Write returns.
		e.expect(rows(0, (i+1)*100)...)
	}
}

func testBadRow(t *testing.T, e *env) {
	batch := rows(0, 5)
	for _, i := range []int{1, 3} {
		bad, ok := e.h.BadRow(batch[i])
		if !ok {
			t.Skip("sink has no notion of a bad row")
		}
		batch[i] = bad
	}
	s := e.open()
	err := s.Write(e.ctx, batch)
	re, ok := sinks.AsRowErrors(err)
	if !ok {
		t.Fatalf("write = %v, want RowErrors", err)
	}
	var idx []int
	for _, r := range re {
		idx = append(idx, r.Index)
		if r.Err == nil {
			t.Errorf("row error %d has no error", r.Index)
		}
	}
	if slices.Sort(idx); !slices.Equal(idx, []int{1, 3}) {
		t.Errorf("rejected rows %v, want [1 3]", idx)
	}
	e.expect(batch[0], batch[2], batch[4])
}

func testCloseFlushes(t *testing.T, e *env) {
	s := e.open()
	want := rows(0, 20)
	e.write(s, want[:10]...)
	e.write(s, want[10:]...)
	e.close(s)
	e.expect(want...)
}

func testReopen(t *testing.T, e *env) {
	s := e.open()
	e.write(s, rows(0, 5)...)
	e.close(s)

	s = e.open()
	update := Row(2)
	update.SentimentScore = -1
	e.write(s, update, Row(5))
	e.close(s)
	want := rows(0, 6)
	want[2] = update
	e.expect(want...)
}

func testWriteAfterClose(t *testing.T, e *env) {
	s := e.open()
	e.write(s, Row(1))
	e.close(s)
	if err := s.Write(e.ctx, []sinks.Result{Row(2)}); !errors.Is(err, sinks.ErrClosed) {
		t.Errorf("write after Close = %v, want ErrClosed", err)
	}
	// A second Close may return an error but must not hang or panic.
	_ = s.Close(e.ctx)
	e.expect(Row(1))
}

func testConcurrentWrites(t *testing.T, e *env) {
	const writers, writes, perWrite = 8, 10, 5
	s := e.open()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				first := (w*writes + i) * perWrite
				if err := s.Write(e.ctx, rows(first, perWrite)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.expect(rows(0, writers*writes*perWrite)...)
}

func testCancelledContext(t *testing.T, e *env) {
	s := e.open()
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	batch := rows(0, 3)
	err := s.Write(ctx, batch)
	if err == nil {
		t.Fatal("write with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) && errkind.KindOf(err) != errkind.Canceled {
		t.Errorf("write with a cancelled context = %v, want a cancellation error", err)
	}
	// The caller will retry; the batch must not be half there meanwhile.
	if got := len(e.readAll()); got != 0 && got != len(batch) {
		t.Errorf("%d of %d rows visible after a cancelled write", got, len(batch))
	}
	e.write(s, batch...)
	e.expect(batch...)
}
