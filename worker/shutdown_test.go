package worker_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/worker/config"
)

// SIGTERM with a model stalled and its queue full: the drain ends at drain_timeout, and what was not finished is
// released for redelivery (no nack, no dead letter, nothing lost); Run
// returns without error. Readiness falls at once.
func TestShutdownWithAStalledModel(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		cfg.Worker.DrainTimeout = 300 * time.Millisecond
		for i := range cfg.Models {
			m := &cfg.Models[i]
			if m.Name == "topics" {
				m.Timeout = time.Hour
				m.Retry.MaxElapsed = time.Hour
				m.Batch.MaxItems, m.Batch.MaxWaiting, m.MaxInFlight = 2, 4, 1
			}
		}
	}})
	if err := h.srv.SetFault("topics", modelserver.Fault{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	const n = 60
	h.publish(globexJobs(n)...)
	h.start()
	// Wait until the stalled model holds work and intake has taken messages.
	deadline := time.Now().Add(10 * time.Second)
	for h.srv.Stats("topics").Requests == 0 || h.topic.Stats().Ready == n {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled model was never called: %+v", h.topic.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.cancel()
	if err := h.w.Health(); err == nil {
		t.Error("still ready after the signal")
	}
	start := time.Now()
	if err := h.stop(); err != nil {
		t.Errorf("Run = %v after a drain that released its messages, want nil", err)
	}
	if d := time.Since(start); d > h.cfg.Worker.DrainTimeout+15*time.Second {
		t.Errorf("shutdown took %v with drain_timeout %v", d, h.cfg.Worker.DrainTimeout)
	}
	if got := testutil.ToFloat64(h.m.MessagesNacked); got != 0 {
		t.Errorf("%v messages nacked at shutdown; cut-off work is released, not failed", got)
	}
	if got := len(h.topic.DeadLetters()); got != 0 {
		t.Errorf("%d dead letters at shutdown", got)
	}
	st := h.topic.Stats()
	if st.Acked+int64(st.Ready+st.Delayed) != n || st.Outstanding != 0 {
		t.Errorf("after shutdown %+v: every message must be acked or back in the topic", st)
	}
	if testutil.ToFloat64(h.m.MessagesReleased) == 0 {
		t.Error("no message counted as released")
	}
}
