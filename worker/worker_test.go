package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/memsink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/ensemble"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/router"
)

// harness runs a real worker against the reference model server on
// loopback, with the in-memory source and sink.
type harness struct {
	t       *testing.T
	cfg     *config.Config
	srv     *modelserver.Server
	topic   *memsource.Topic
	src     *memsource.Source
	btopic  *memsource.Topic // the backfill source's topic, with harnessOpts.backfill
	sink    *memsink.Sink
	w       *worker.Worker
	created sync.Map // model name → clients created
	runErr  chan error
	cancel  context.CancelFunc
	logs    *syncBuffer
	m       *metrics.Metrics
}

type harnessOpts struct {
	server modelserver.Options
	// front, if set, wraps the model server's handler: a stand-in for a
	// server behaviour the reference server does not have.
	front    func(next http.Handler) http.Handler
	topic    memsource.TopicOptions
	edit     func(cfg *config.Config)
	wrapSink func(s sinks.Sink) sinks.Sink
	// wrapSource wraps the in-memory source (fault injection).
	wrapSource func(s sources.Source) sources.Source
	// backfill adds a second in-memory source read as backfill.
	backfill bool
	// now, if set, is the worker's clock (Options.Now).
	now func() time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func loadDemoConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../deploy/examples/demo.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fast retries so fault tests finish quickly.
	for i := range cfg.Models {
		m := &cfg.Models[i]
		m.Retry.MaxAttempts = 2
		m.Retry.Backoff.Initial = time.Millisecond
		m.Retry.Backoff.Max = 5 * time.Millisecond
		m.Timeout = 2 * time.Second
	}
	cfg.Worker.NackBackoff.Initial = time.Millisecond
	cfg.Worker.NackBackoff.Max = 10 * time.Millisecond
	cfg.Worker.DrainTimeout = 5 * time.Second
	return cfg
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	models, err := refmodel.LoadAll(chorus.Data)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: modelserver.New(models, o.server), runErr: make(chan error, 1), logs: &syncBuffer{}, m: metrics.New(nil)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.front != nil {
		hs := &http.Server{Handler: o.front(h.srv.Handler())}
		go func() { _ = hs.Serve(ln) }()
		t.Cleanup(func() { hs.Close() })
	} else {
		srvCtx, stopSrv := context.WithCancel(context.Background())
		srvDone := make(chan struct{})
		go func() { _ = h.srv.Serve(srvCtx, ln); close(srvDone) }()
		t.Cleanup(func() { stopSrv(); <-srvDone })
	}

	h.cfg = loadDemoConfig(t)
	if o.edit != nil {
		o.edit(h.cfg)
	}
	if err := h.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := wiring.PointModelsAt(h.cfg, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	factory, err := wiring.Clients(h.cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	h.topic = memsource.NewTopic(o.topic)
	h.src = memsource.NewSource(h.topic, sources.FlowControl{
		MaxOutstandingMessages: h.cfg.Worker.MaxOutstandingMessages,
		MaxOutstandingBytes:    h.cfg.Worker.MaxOutstandingBytes,
	})
	h.sink = memsink.New()
	var src sources.Source = h.src
	if o.wrapSource != nil {
		src = o.wrapSource(src)
	}
	var sink sinks.Sink = h.sink
	if o.wrapSink != nil {
		sink = o.wrapSink(sink)
	}
	var backfill sources.Source
	if o.backfill {
		h.btopic = memsource.NewTopic(o.topic)
		backfill = memsource.NewSource(h.btopic, sources.FlowControl{
			MaxOutstandingMessages: h.cfg.Worker.MaxOutstandingMessages,
			MaxOutstandingBytes:    h.cfg.Worker.MaxOutstandingBytes,
		})
	}
	h.w, err = worker.New(worker.Options{
		Config: h.cfg, Source: src, Backfill: backfill, Sink: sink,
		Clients: func(m config.Model) (endpoint.Client, error) {
			n, _ := h.created.LoadOrStore(m.Name, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return factory(m)
		},
		Logger:  zerolog.New(h.logs),
		Metrics: h.m,
		Now:     o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.runErr <- h.w.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(10 * time.Second):
			h.t.Error("worker did not stop")
		}
	})
}

// stop cancels the worker and returns Run's error.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.runErr:
		h.runErr <- err // for Cleanup
		return err
	case <-time.After(15 * time.Second):
		h.t.Fatal("worker did not drain")
		return nil
	}
}

func (h *harness) publish(bodies ...string) {
	h.t.Helper()
	msgs := make([]memsource.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = memsource.Message{Body: []byte(b)}
	}
	if err := h.topic.Publish(context.Background(), msgs...); err != nil {
		h.t.Fatal(err)
	}
}

// waitSettled waits until every published message is acked.
func (h *harness) waitSettled(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := h.topic.Stats()
		if s.Ready+s.Delayed+s.Outstanding == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("not settled after %v: %+v\nlogs:\n%s", timeout, s, tail(h.logs.String(), 3000))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func jobJSON(tenant, id, text string) string {
	b, _ := json.Marshal(job.Job{ResponseID: id, Tenant: tenant, Text: text})
	return string(b)
}

// globexJobs returns n one-job messages for tenant globex, ids g-0 to
// g-(n-1), cycling through texts.
func globexJobs(n int) []string {
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = jobJSON("globex", fmt.Sprintf("g-%d", i), texts[i%len(texts)])
	}
	return bodies
}

var texts = []string{
	"The app is slow since the update and support never answered.",
	"Love the new dashboard, onboarding was painless.",
	"Got charged twice this month, please fix billing.",
	"The Salesforce integration keeps failing on the iPhone app.",
	"Great value for the price.",
	"It crashes every time I open a report.",
}

func deadReasons(t *testing.T, topic *memsource.Topic) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range topic.DeadLetters() {
		out[d.Attributes[sources.AttrErrorClass]]++
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tenants := []string{"acme", "globex", "initech"}
	want := map[sinks.Key]bool{}
	var bodies []string
	perTenant := map[string]int{}
	for i := range 150 {
		tenant := tenants[i%3]
		id := fmt.Sprintf("%s-%04d", tenant, i)
		want[sinks.Key{Tenant: tenant, ResponseID: id, PipelineVersion: "2026-11-25.1"}] = true
		perTenant[tenant]++
		if i%10 == 0 { // backfill style: three jobs in one message
			var parts []string
			for k := range 3 {
				id2 := fmt.Sprintf("%s-b%04d-%d", tenant, i, k)
				want[sinks.Key{Tenant: tenant, ResponseID: id2, PipelineVersion: "2026-11-25.1"}] = true
				perTenant[tenant]++
				parts = append(parts, jobJSON(tenant, id2, texts[(i+k)%len(texts)]))
			}
			parts = append(parts, jobJSON(tenant, id, texts[i%len(texts)]))
			bodies = append(bodies, "["+strings.Join(parts, ",")+"]")
			continue
		}
		bodies = append(bodies, jobJSON(tenant, id, texts[i%len(texts)]))
	}
	bad := []string{
		`{"response_id":"x1","tenant":"acme"`, // truncated
		`{"response_id":"x2","tenant":"acme"}`,
		`{"response_id":"x3","tenant":"acme","text":""}`,
		`{"response_id":"x4","tenant":"umbrella","text":"who am I"}`,
		`{"response_id":"x5","tenant":"acme","text":"` + strings.Repeat("a", 10001) + `"}`,
		`[]`,
	}
	wantReasons := map[string]int{string(job.ReasonMalformedJSON): 1, string(job.ReasonMissingField): 1, string(job.ReasonEmptyText): 1, string(router.ReasonUnknownTenant): 1, string(job.ReasonTextTooLong): 1, string(job.ReasonEmptyMessage): 1}
	h.publish(append(bodies, bad...)...)
	h.start()
	h.waitSettled(20 * time.Second)
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	rows := h.sink.Rows()
	if len(rows) != len(want) {
		t.Fatalf("%d rows in sink, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		if !want[r.Key()] {
			t.Fatalf("unexpected row %+v", r.Key())
		}
		if r.Partial || r.SentimentLabel == "" || r.SourceMessageID == "" || r.ScoredAt.IsZero() {
			t.Fatalf("incomplete row %+v", r)
		}
		_, hasAcme := r.ModelVersions["acme-topics"]
		if hasAcme != (r.Tenant == "acme") {
			t.Fatalf("row for %s: acme-topics version present=%v", r.Tenant, hasAcme)
		}
		if len(r.ModelVersions) < 3 {
			t.Fatalf("row %s has model versions %v", r.ResponseID, r.ModelVersions)
		}
	}
	if got := deadReasons(t, h.topic); fmt.Sprint(got) != fmt.Sprint(wantReasons) {
		t.Fatalf("dead letters by reason %v, want %v", got, wantReasons)
	}
	// acme's custom model saw acme's jobs and nobody else's.
	if st := h.srv.Stats("acme-topics"); st.Items != int64(perTenant["acme"]) {
		t.Fatalf("acme-topics scored %d items, want %d (acme's jobs only)", st.Items, perTenant["acme"])
	}
	if st := h.topic.Stats(); st.Acked != int64(len(bodies)+len(bad)) {
		t.Fatalf("acked %d, want %d", st.Acked, len(bodies)+len(bad))
	}

	// Endpoint time is charged to the tenants whose jobs were in the batch:
	// every tenant on the shared models, only acme on acme's model.
	for _, tenant := range tenants {
		if got := testutil.ToFloat64(h.m.EndpointSeconds.WithLabelValues("topics", tenant)); got <= 0 {
			t.Errorf("topics endpoint seconds for %s = %v, want > 0", tenant, got)
		}
	}
	if got := testutil.CollectAndCount(h.m.EndpointSeconds, "chorus_endpoint_seconds_total"); got != 3*3+1 {
		t.Errorf("%d endpoint-seconds series, want 10 (3 shared models × 3 tenants + acme-topics × acme)", got)
	}
	if got := testutil.ToFloat64(h.m.EndpointUp.WithLabelValues("acme-topics")); got != 1 {
		t.Errorf("chorus_endpoint_up{acme-topics} = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(h.m.MessageAge); n != 1 {
		t.Errorf("message age histogram has %d series", n)
	}
	if age := testutil.ToFloat64(h.m.BacklogAge); age <= 0 || age > 60 {
		t.Errorf("backlog age %v s, want the few seconds since publishing", age)
	}
}

func TestDeadModelDoesNotStallTheRest(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		for i := range cfg.Models {
			cfg.Models[i].Breaker.Failures = 2
			cfg.Models[i].Breaker.Cooldown = time.Hour
		}
	}})
	if err := h.srv.SetFault("sentiment-vader", modelserver.Fault{Status: 503}); err != nil {
		t.Fatal(err)
	}
	bodies := globexJobs(60)
	h.publish(bodies...)
	h.start()
	h.waitSettled(20 * time.Second)
	rows := h.sink.Rows()
	if len(rows) != 60 {
		t.Fatalf("%d rows, want 60: a dead model must not stop the others", len(rows))
	}
	for _, r := range rows {
		if !r.Partial {
			t.Fatalf("row %s not marked partial", r.ResponseID)
		}
		if _, ok := r.ModelVersions["sentiment-vader"]; ok {
			t.Fatalf("row %s claims the dead model answered", r.ResponseID)
		}
	}
	// The breaker opened: the dead endpoint saw few requests, not 2 per batch.
	if st := h.srv.Stats("sentiment-vader"); st.Requests > 10 {
		t.Fatalf("dead endpoint got %d requests; the breaker should have opened", st.Requests)
	}
	if got := testutil.ToFloat64(h.m.EndpointUp.WithLabelValues("sentiment-vader")); got != 0 {
		t.Errorf("chorus_endpoint_up{sentiment-vader} = %v, want 0 with its breaker open", got)
	}
	// Two of three models still meet the quorum of 2: the worker stays ready.
	if err := h.w.Health(); err != nil {
		t.Errorf("Health with one model down and quorum held: %v", err)
	}
}

// Readiness follows the quorum: with two of the three shared models down
// (quorum 2) the worker says which pipeline and models, and it is ready
// again once a breaker's trial call succeeds.
func TestHealthFollowsQuorum(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		for i := range cfg.Models {
			cfg.Models[i].Breaker.Failures = 2
			cfg.Models[i].Breaker.Cooldown = 50 * time.Millisecond
		}
	}})
	if err := h.w.Health(); err == nil || !strings.Contains(err.Error(), "not pulling") {
		t.Fatalf("Health before Run = %v, want not pulling", err)
	}
	for _, m := range []string{"sentiment-vader", "sentiment-nb"} {
		if err := h.srv.SetFault(m, modelserver.Fault{Status: 503}); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	waitFor := func(what string, ok func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for i := 0; ; i++ {
			err := h.w.Health()
			if ok(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Health = %v", what, err)
			}
			h.publish(jobJSON("globex", fmt.Sprintf("g-%d-%d", time.Now().UnixNano(), i), texts[i%len(texts)]))
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("two models down", func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "quorum 2") &&
			strings.Contains(err.Error(), "sentiment-vader") && strings.Contains(err.Error(), "sentiment-nb")
	})
	for _, m := range []string{"sentiment-vader", "sentiment-nb"} {
		if err := h.srv.SetFault(m, modelserver.Fault{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("models back", func(err error) bool { return err == nil })
}

func TestBelowQuorumRetriesThenDeadLetters(t *testing.T) {
	h := newHarness(t, harnessOpts{edit: func(cfg *config.Config) {
		cfg.Worker.MaxDeliveryAttempts = 3
	}})
	for _, m := range []string{"sentiment-vader", "sentiment-nb"} {
		if err := h.srv.SetFault(m, modelserver.Fault{Status: 500}); err != nil {
			t.Fatal(err)
		}
	}
	h.publish(jobJSON("initech", "i-1", texts[0]), jobJSON("initech", "i-2", texts[1]))
	h.start()
	h.waitSettled(20 * time.Second)
	if n := h.sink.Len(); n != 0 {
		t.Fatalf("%d rows written below quorum", n)
	}
	if got := deadReasons(t, h.topic); got[string(ensemble.ReasonQuorumNotMet)] != 2 {
		t.Fatalf("dead letters %v, want 2 quorum_not_met", got)
	}
	for _, d := range h.topic.DeadLetters() {
		if d.Attributes[sources.AttrDeliveryAttempt] != "3" {
			t.Fatalf("dead-lettered at attempt %q, want 3", d.Attributes[sources.AttrDeliveryAttempt])
		}
	}
}

func TestEndpointFaultsAreRetried(t *testing.T) {
	tests := []struct {
		name  string
		fault modelserver.Fault
	}{
		{"429", modelserver.Fault{Status: 429}},
		{"503", modelserver.Fault{Status: 503}},
		{"nan", modelserver.Fault{NaN: true}},
		{"wrong count", modelserver.Fault{WrongCount: true}},
		{"garbage", modelserver.Fault{Garbage: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			h := newHarness(t, harnessOpts{server: modelserver.Options{Fault: func(model string, n int) modelserver.Fault {
				// Every model fails its first request, then recovers.
				if model == "topics" && calls.Add(1) == 1 {
					return tc.fault
				}
				return modelserver.Fault{}
			}}})
			h.publish(jobJSON("acme", "a-1", texts[0]))
			h.start()
			h.waitSettled(10 * time.Second)
			rows := h.sink.Rows()
			if len(rows) != 1 || rows[0].Partial {
				t.Fatalf("rows %+v: want one complete row after a retried fault", rows)
			}
		})
	}
}

func TestOversizedBatchesAreSplit(t *testing.T) {
	h := newHarness(t, harnessOpts{server: modelserver.Options{MaxBatch: 4, BatchCost: 5 * time.Millisecond, MaxConcurrent: 1}})
	bodies := globexJobs(100)
	h.publish(bodies...)
	h.start()
	h.waitSettled(20 * time.Second)
	if n := h.sink.Len(); n != 100 {
		t.Fatalf("%d rows, want 100", n)
	}
	st := h.srv.Stats("topics")
	if st.MaxBatch > 4 || st.TooLarge == 0 {
		t.Fatalf("stats %+v: want batches ≤ 4 after some 413s", st)
	}
}

// rejectingSink rejects rows whose response id starts with "bad".
type rejectingSink struct{ sinks.Sink }

func (s rejectingSink) Write(ctx context.Context, rows []sinks.Result) error {
	var good []sinks.Result
	var bad sinks.RowErrors
	for i, r := range rows {
		if strings.HasPrefix(r.ResponseID, "bad") {
			bad = append(bad, sinks.RowError{Index: i, Err: fmt.Errorf("check constraint")})
			continue
		}
		good = append(good, r)
	}
	if err := s.Sink.Write(ctx, good); err != nil {
		return err
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

func TestSinkRejectedRowsAreDeadLettered(t *testing.T) {
	h := newHarness(t, harnessOpts{wrapSink: func(s sinks.Sink) sinks.Sink { return rejectingSink{s} }})
	h.publish("["+jobJSON("acme", "ok-1", texts[0])+","+jobJSON("acme", "bad-1", texts[1])+"]", jobJSON("acme", "ok-2", texts[2]))
	h.start()
	h.waitSettled(10 * time.Second)
	if n := h.sink.Len(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	dls := h.topic.DeadLetters()
	if len(dls) != 1 || dls[0].Attributes[sources.AttrErrorClass] != string(worker.ReasonSinkRejected) || dls[0].Attributes[sources.AttrFailedAt] != "sink" {
		t.Fatalf("dead letters %+v, want one sink_rejected", dls)
	}
	var j job.Job
	if err := json.Unmarshal(dls[0].Body, &j); err != nil || j.ResponseID != "bad-1" {
		t.Fatalf("dead-lettered body %q: want the rejected job alone", dls[0].Body)
	}
}

func TestGracefulDrainLosesNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{server: modelserver.Options{BatchCost: 20 * time.Millisecond, MaxConcurrent: 2}})
	bodies := globexJobs(400)
	h.publish(bodies...)
	h.start()
	for h.sink.Len() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run after SIGTERM-style cancel: %v", err)
	}
	st := h.topic.Stats()
	if st.Outstanding != 0 {
		t.Fatalf("%d messages still outstanding after drain", st.Outstanding)
	}
	// Every acked message's job is in the sink; the rest are back in the
	// queue for another worker.
	if int64(h.sink.Len()) != st.Acked {
		t.Fatalf("sink has %d rows but %d messages were acked", h.sink.Len(), st.Acked)
	}
	if st.Acked+int64(st.Ready+st.Delayed) != 400 {
		t.Fatalf("acked %d + waiting %d != 400 published", st.Acked, st.Ready+st.Delayed)
	}
}

func TestFlowControlBoundsInFlight(t *testing.T) {
	h := newHarness(t, harnessOpts{
		server: modelserver.Options{BatchCost: 10 * time.Millisecond, MaxConcurrent: 1},
		edit: func(cfg *config.Config) {
			cfg.Worker.MaxOutstandingMessages = 16
		},
	})
	bodies := globexJobs(300)
	h.publish(bodies...)
	h.start()
	maxOut := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := h.topic.Stats()
		maxOut = max(maxOut, s.Outstanding)
		if s.Ready+s.Delayed+s.Outstanding == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if maxOut > 16 {
		t.Fatalf("%d messages outstanding, bound 16", maxOut)
	}
	if n := h.sink.Len(); n != 300 {
		t.Fatalf("%d rows, want 300", n)
	}
}

func TestUnusedModelsCostNothing(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.publish(jobJSON("globex", "g-1", texts[0]))
	h.start()
	h.waitSettled(10 * time.Second)
	if _, ok := h.created.Load("acme-topics"); ok {
		t.Fatal("acme-topics client created though no acme job arrived")
	}
	if _, ok := h.created.Load("topics"); !ok {
		t.Fatal("topics client never created")
	}
}

// flakySink fails every write with a retryable error while down is set.
type flakySink struct {
	sinks.Sink
	down   atomic.Bool
	failed atomic.Int32
}

func (s *flakySink) Write(ctx context.Context, rows []sinks.Result) error {
	if s.down.Load() {
		s.failed.Add(1)
		return errkind.New(errkind.Retryable, sinks.ReasonConnection, fmt.Errorf("sink is down"))
	}
	return s.Sink.Write(ctx, rows)
}

// A sink outage pauses intake and holds rows until the sink is back:
// nothing is dead-lettered for it and nothing is lost.
func TestSinkOutagePausesIntake(t *testing.T) {
	var fs *flakySink
	h := newHarness(t, harnessOpts{
		wrapSink: func(s sinks.Sink) sinks.Sink {
			fs = &flakySink{Sink: s}
			fs.down.Store(true)
			return fs
		},
		edit: func(cfg *config.Config) {
			cfg.Worker.MaxOutstandingMessages = 50
			cfg.Worker.MaxDeliveryAttempts = 2
			cfg.Sink.Batch.Retry.MaxAttempts = 2
			cfg.Sink.Batch.Retry.Backoff.Initial = time.Millisecond
			cfg.Sink.Batch.Retry.Backoff.Max = 10 * time.Millisecond
		},
	})
	bodies := globexJobs(300)
	h.publish(bodies...)
	h.start()
	// While the sink is down, intake stops at the flow-control bound.
	deadline := time.Now().Add(10 * time.Second)
	for fs.failed.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := h.topic.Stats()
	if st.Acked != 0 || st.Outstanding > 50 || st.Ready < 200 {
		t.Fatalf("while the sink is down: %+v; want nothing acked, at most 50 outstanding, the rest waiting", st)
	}
	if !h.w.SinkDown() {
		t.Fatal("worker does not report the sink down")
	}
	if err := h.w.Health(); err == nil || !strings.Contains(err.Error(), "sink") {
		t.Fatalf("Health while the sink is down = %v, want a sink error", err)
	}
	fs.down.Store(false)
	h.waitSettled(20 * time.Second)
	if n := h.sink.Len(); n != 300 {
		t.Fatalf("%d rows after recovery, want 300", n)
	}
	if dl := h.topic.DeadLetters(); len(dl) != 0 {
		t.Fatalf("%d dead letters for a sink outage, want none", len(dl))
	}
}

// IdleFor is what --exit-when-idle watches: zero before Run and while any
// message is held, then the time since the last one was released.
func TestIdleFor(t *testing.T) {
	// The worker's clock moves only when the test moves it, so the idle
	// time it reports is exact.
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	h := newHarness(t, harnessOpts{now: now})
	if d := h.w.IdleFor(); d != 0 {
		t.Fatalf("IdleFor before Run = %v, want 0", d)
	}
	bodies := globexJobs(40)
	h.publish(bodies...)
	h.start()
	h.waitSettled(20 * time.Second)
	// The last release follows its ack by a moment.
	var first time.Duration
	for deadline := time.Now().Add(5 * time.Second); first == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		clock.Add(int64(time.Millisecond))
		first = h.w.IdleFor()
	}
	clock.Add(int64(30 * time.Millisecond))
	if second := h.w.IdleFor(); first <= 0 || second < first+30*time.Millisecond {
		t.Fatalf("IdleFor after the queue drained: %v then %v, want a growing duration", first, second)
	}
}
