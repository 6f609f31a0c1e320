package pgsink_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sinks/sinktest"
	"github.com/chorusml/chorus/worker/errkind"
)

// TestServerRestart writes batches in a loop while the server goes down
// and comes back: while it is down, Write fails fast and Retryable; after,
// Write succeeds again; no batch is ever partly visible.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	const (
		schema    = "restart"
		batchSize = 40
		// maxFail bounds a failing Write: connection refused is immediate,
		// a connect attempt is bounded by DefaultConnectTimeout.
		maxFail = pgsink.DefaultConnectTimeout + time.Second
	)
	table := newTable(t, srv, schema)
	s := open(t, pgsink.Options{DSN: srv.DSN(), Schema: schema, Table: table, MaxConns: 2})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type attempt struct {
		batch int
		err   error
		took  time.Duration
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		changed  = make(chan struct{}, 1)
	)
	// tally counts successes and failures from attempt from on.
	tally := func(from int) (ok, failed int) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range attempts[min(from, len(attempts)):] {
			if a.err == nil {
				ok++
			} else {
				failed++
			}
		}
		return ok, failed
	}
	mark := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := 0; ; b++ {
			select {
			case <-stop:
				return
			default:
			}
			batch := make([]sinks.Result, batchSize)
			for i := range batch {
				batch[i] = sinktest.Row(i)
				batch[i].ResponseID = fmt.Sprintf("b%05d-r%03d", b, i)
			}
			start := time.Now()
			err := s.Write(ctx, batch)
			mu.Lock()
			attempts = append(attempts, attempt{batch: b, err: err, took: time.Since(start)})
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
			// Pacing, not synchronisation (the test waits on changed):
			// while the server is down each write fails at once.
			time.Sleep(5 * time.Millisecond)
		}
	}()

	waitFor("writes before the restart", func() bool { ok, _ := tally(0); return ok >= 5 })
	srv.Stop(t)
	down := mark()
	waitFor("failed writes while down", func() bool { _, failed := tally(down); return failed >= 5 })
	srv.Start(t)
	up := mark()
	waitFor("writes after the restart", func() bool { ok, _ := tally(up); return ok >= 5 })
	close(stop)
	<-writerDone

	acked := map[int]bool{}
	var failures int
	for _, a := range attempts {
		if a.err == nil {
			acked[a.batch] = true
			continue
		}
		failures++
		if k := errkind.KindOf(a.err); k != errkind.Retryable {
			t.Errorf("batch %d: %v: kind %v, want retryable", a.batch, a.err, k)
		}
		if a.took > maxFail {
			t.Errorf("batch %d failed after %v, want at most %v", a.batch, a.took, maxFail)
		}
	}
	t.Logf("%d writes, %d failed while the server was down or coming back", len(attempts), failures)

	rows, err := pgsink.ReadAll(ctx, srv.DSN(), schema, table)
	if err != nil {
		t.Fatal(err)
	}
	perBatch := map[int]int{}
	for _, r := range rows {
		var b int
		if _, err := fmt.Sscanf(strings.SplitN(r.ResponseID, "-", 2)[0], "b%d", &b); err != nil {
			t.Fatalf("unexpected response id %q", r.ResponseID)
		}
		perBatch[b]++
	}
	for b, n := range perBatch {
		if n != batchSize {
			t.Errorf("batch %d: %d of %d rows visible", b, n, batchSize)
		}
	}
	for b := range acked {
		if perBatch[b] != batchSize {
			t.Errorf("acked batch %d: %d of %d rows visible", b, perBatch[b], batchSize)
		}
	}
}
