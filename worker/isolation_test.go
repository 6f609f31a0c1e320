package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/job"
)

// orderSink records the order rows are committed in.
type orderSink struct {
	sinks.Sink
	mu   sync.Mutex
	keys []string // "tenant/response_id"
}

func (s *orderSink) Write(ctx context.Context, rows []sinks.Result) error {
	if err := s.Sink.Write(ctx, rows); err != nil {
		return err
	}
	s.mu.Lock()
	for _, r := range rows {
		s.keys = append(s.keys, r.Tenant+"/"+r.ResponseID)
	}
	s.mu.Unlock()
	return nil
}

// before counts the rows matching other committed before the last row
// matching want, and whether every want row was committed.
func (s *orderSink) before(want func(string) bool, n int, other func(string) bool) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, others := 0, 0
	for _, k := range s.keys {
		switch {
		case want(k):
			seen++
			if seen == n {
				return others, true
			}
		case other(k):
			others++
		}
	}
	return others, false
}

func prefix(p string) func(string) bool {
	return func(k string) bool { return len(k) >= len(p) && k[:len(p)] == p }
}

// rowsOf counts the rows committed for tenant.
func rowsOf(h *harness, tenant string) int {
	n := 0
	for _, r := range h.sink.Rows() {
		if r.Tenant == tenant {
			n++
		}
	}
	return n
}

func tenantJobs(tenant string, n int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = jobJSON(tenant, fmt.Sprintf("%s-%d", tenant, i), texts[i%len(texts)])
	}
	return bodies
}

// slowShared makes the shared topic model take batches of 4, one at a
// time, each slowed by the server: a queue forms and its order shows.
func slowShared(cfg *config.Config) {
	for i := range cfg.Models {
		if m := &cfg.Models[i]; m.Name == "topics" {
			m.Batch.MaxItems, m.Batch.MaxWaiting, m.MaxInFlight = 4, 4, 1
		}
	}
}

func waitFor(t *testing.T, h *harness, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s: %+v\nlogs:\n%s", what, h.topic.Stats(), tail(h.logs.String(), 3000))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A tenant's backlog queued first does not hold back another tenant's
// jobs: the shared model's batches are filled across tenants.
func TestTenantBacklogDoesNotDelayOthers(t *testing.T) {
	rec := &orderSink{}
	h := newHarness(t, harnessOpts{edit: slowShared, wrapSink: func(s sinks.Sink) sinks.Sink { rec.Sink = s; return rec }})
	if err := h.srv.SetFault("topics", modelserver.Fault{Delay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	h.publish(tenantJobs("globex", 200)...)
	h.publish(tenantJobs("initech", 5)...)
	h.start()
	h.waitSettled(60 * time.Second)
	globex, ok := rec.before(prefix("initech/"), 5, prefix("globex/"))
	if !ok {
		t.Fatal("initech's rows were not all committed")
	}
	t.Logf("globex rows committed before initech's 5: %d of 200", globex)
	// First come, first served would commit all 200 first.
	if globex > 50 {
		t.Errorf("%d of globex's 200 rows were committed before initech's 5", globex)
	}
}

// Backfill waits behind live work, whether it comes from the backfill
// source or carries a run_id on the live one, and is not starved.
func TestBackfillYieldsToLive(t *testing.T) {
	for _, viaSource := range []bool{false, true} {
		name := "run_id attribute"
		if viaSource {
			name = "backfill source"
		}
		t.Run(name, func(t *testing.T) {
			rec := &orderSink{}
			h := newHarness(t, harnessOpts{edit: slowShared, backfill: viaSource, wrapSink: func(s sinks.Sink) sinks.Sink { rec.Sink = s; return rec }})
			if err := h.srv.SetFault("topics", modelserver.Fault{Delay: 20 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			bodies := tenantJobs("acme", 200)
			msgs := make([]memsource.Message, len(bodies))
			for i, b := range bodies {
				msgs[i] = memsource.Message{Body: []byte(b)}
				if !viaSource {
					msgs[i].Attributes = map[string]string{job.AttrRunID: "bf-1"}
				}
			}
			topic := h.topic
			if viaSource {
				topic = h.btopic
			}
			if err := topic.Publish(context.Background(), msgs...); err != nil {
				t.Fatal(err)
			}
			h.start()
			// Let backfill fill the queue, then live feedback arrives.
			waitFor(t, h, "backfill started", func() bool { return h.srv.Stats("topics").Requests > 0 })
			h.publish(tenantJobs("globex", 5)...)
			waitFor(t, h, "all committed", func() bool { return len(h.sink.Rows()) == 205 })
			backfill, _ := rec.before(prefix("globex/"), 5, prefix("acme/"))
			t.Logf("backfill rows committed before the 5 live ones: %d of 200", backfill)
			if backfill > 50 {
				t.Errorf("%d backfill rows were committed before the 5 live ones", backfill)
			}
		})
	}
}

// A custom model that stalls holds only its tenant's jobs: intake goes on,
// and other tenants' jobs are scored while acme's wait.
func TestStalledModelHoldsOnlyItsTenant(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		cfg.Worker.DrainTimeout = 200 * time.Millisecond
		for i := range cfg.Models {
			if m := &cfg.Models[i]; m.Name == "acme-topics" {
				m.Timeout, m.Retry.MaxElapsed = time.Hour, time.Hour
				m.Batch.MaxItems, m.Batch.MaxWaiting, m.MaxInFlight = 1, 1, 1
			}
		}
	}})
	if err := h.srv.SetFault("acme-topics", modelserver.Fault{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	h.publish(tenantJobs("acme", 100)...)
	h.publish(tenantJobs("globex", 100)...)
	h.start()
	waitFor(t, h, "globex scored", func() bool { return rowsOf(h, "globex") == 100 })
	if err := h.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	st := h.topic.Stats()
	if st.Acked != 100 || st.Acked+int64(st.Ready+st.Delayed) != 200 {
		t.Errorf("after shutdown %+v: globex's 100 acked and acme's back in the topic", st)
	}
}

// A model failing with 503 + Retry-After, its tenant's queue for it full
// and the worker short of room: that tenant's further messages go back to
// the broker with a delay, not into the worker's flow control, so other
// tenants keep being received and scored. Nothing is lost or
// dead-lettered, and once the model answers, everything is scored.
func TestFailingModelDefersItsTenant(t *testing.T) {
	var mu sync.Mutex
	failing := true
	h := newHarness(t, harnessOpts{
		edit: func(cfg *config.Config) {
			cfg.Worker.MaxOutstandingMessages = 20
			cfg.Worker.ReceiveBatch = 5
			for i := range cfg.Models {
				if m := &cfg.Models[i]; m.Name == "acme-topics" {
					m.Retry.MaxAttempts, m.Retry.MaxElapsed = 100, time.Hour
					m.Breaker.Failures = -1
					m.Batch.MaxItems, m.Batch.MaxWaiting, m.MaxInFlight = 1, 2, 1
				}
			}
		},
		front: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				f := failing
				mu.Unlock()
				if f && r.URL.Path == "/tei/acme-topics/predict" {
					w.Header().Set("Retry-After", "0")
					http.Error(w, `{"error":"overloaded","error_type":"overloaded"}`, http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	h.publish(tenantJobs("acme", 100)...)
	h.publish(tenantJobs("globex", 100)...)
	h.start()
	waitFor(t, h, "globex scored", func() bool { return rowsOf(h, "globex") == 100 })
	got := testutil.ToFloat64(h.m.MessagesDeferred.WithLabelValues("acme-topics"))
	t.Logf("acme messages deferred: %v", got)
	if got == 0 {
		t.Error("no acme message was deferred while its model failed and the worker was full")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	h.waitSettled(60 * time.Second)
	if n := len(h.sink.Rows()); n != 200 {
		t.Errorf("%d rows, want 200", n)
	}
	if d := len(h.topic.DeadLetters()); d != 0 {
		t.Errorf("%d dead letters: a deferral is not a failure", d)
	}
}
