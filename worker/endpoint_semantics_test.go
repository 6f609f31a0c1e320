package worker_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
)

// refuseText answers 400 in the open-inference error form to any infer
// request for model that holds marker, as a server refusing one input does.
func refuseText(model, marker string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/models/"+model+"/") {
				b, _ := io.ReadAll(r.Body)
				if bytes.Contains(b, []byte(marker)) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprintf(w, `{"error":"input %s could not be tokenized"}`, marker)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(b))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// One text the topics model refuses is dead-lettered on its first
// delivery with the server's reason; the others in its batch are scored.
func TestRefusedTextIsDeadLetteredAlone(t *testing.T) {
	h := newHarness(t, harnessOpts{front: refuseText("topics", "POISON")})
	bodies := globexJobs(20)
	bodies[7] = jobJSON("globex", "g-poison", "The app is slow POISON since the update.")
	h.publish(bodies...)
	h.start()
	h.waitSettled(20 * time.Second)
	if n := len(h.sink.Rows()); n != 19 {
		t.Errorf("%d rows, want 19: only the refused text may fail", n)
	}
	dls := h.topic.DeadLetters()
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	d := dls[0]
	if got := d.Attributes[sources.AttrErrorClass]; got != string(endpoint.ReasonInvalidInput) {
		t.Errorf("dead letter reason %q, want invalid_input", got)
	}
	if got := d.Attributes[sources.AttrDeliveryAttempt]; got != "1" {
		t.Errorf("dead-lettered at attempt %q, want 1 (first delivery)", got)
	}
	if !strings.Contains(d.Attributes[sources.AttrError], "could not be tokenized") {
		t.Errorf("detail %q does not carry the server's message", d.Attributes[sources.AttrError])
	}
	if !strings.Contains(string(d.Body), "g-poison") {
		t.Errorf("dead letter body %s is not the refused job", d.Body)
	}
}

// A misconfigured model (here: 404, the model is not on the server) is
// not a transient fault. Jobs that meet their quorum without it are
// written partial at once; jobs that need it wait in the worker, not in
// redeliveries, and are scored once it answers. Readiness and a metric
// name the model and the reason.
func TestMisconfiguredModel(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		for i := range cfg.Models {
			cfg.Models[i].Breaker.Cooldown = 20 * time.Millisecond
		}
	}})
	if err := h.srv.SetFault("sentiment-vader", modelserver.Fault{Status: 404}); err != nil {
		t.Fatal(err)
	}
	h.publish(globexJobs(10)...)
	h.start()
	h.waitSettled(20 * time.Second)
	for _, r := range h.sink.Rows() {
		if !r.Partial {
			t.Errorf("row %s not partial with sentiment-vader misconfigured", r.ResponseID)
		}
	}
	if err := h.w.Health(); err == nil || !strings.Contains(err.Error(), "sentiment-vader") || !strings.Contains(err.Error(), string(endpoint.ReasonNotFound)) {
		t.Errorf("Health = %v, want it to name sentiment-vader and not_found", err)
	}
	if got := testutil.ToFloat64(h.m.ModelMisconfigured.WithLabelValues("sentiment-vader", string(endpoint.ReasonNotFound))); got != 1 {
		t.Errorf("chorus_model_misconfigured{sentiment-vader,not_found} = %v, want 1", got)
	}
	if n := strings.Count(h.logs.String(), "model is misconfigured"); n != 1 {
		t.Errorf("%d misconfiguration log lines, want exactly 1", n)
	}

	// topics is the only topics model globex has: its jobs must wait.
	if err := h.srv.SetFault("topics", modelserver.Fault{Status: 404}); err != nil {
		t.Fatal(err)
	}
	before := len(h.sink.Rows())
	h.publish(jobJSON("globex", "g-wait-1", texts[0]), jobJSON("globex", "g-wait-2", texts[1]))
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(h.m.ModelMisconfigured.WithLabelValues("topics", string(endpoint.ReasonNotFound))) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("topics never reported misconfigured\n%s", tail(h.logs.String(), 2000))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := testutil.ToFloat64(h.m.MessagesNacked); n != 0 {
		t.Errorf("%v messages nacked; jobs waiting for a misconfigured model must not cycle through redeliveries", n)
	}
	if len(h.sink.Rows()) != before {
		t.Errorf("rows written while their only topics model is misconfigured")
	}
	for _, m := range []string{"topics", "sentiment-vader"} {
		if err := h.srv.SetFault(m, modelserver.Fault{}); err != nil {
			t.Fatal(err)
		}
	}
	h.waitSettled(20 * time.Second)
	if got := len(h.sink.Rows()); got != before+2 {
		t.Errorf("%d rows after the model came back, want %d", got, before+2)
	}
	if len(h.topic.DeadLetters()) != 0 {
		t.Errorf("dead letters %v, want none", h.topic.DeadLetters())
	}
	if testutil.ToFloat64(h.m.MessagesNacked) != 0 {
		t.Error("messages were nacked")
	}
}
