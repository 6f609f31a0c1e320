// Package worker runs Chorus's scoring path: pull messages from a source,
// decode them into jobs, route each job to its pipeline's models, micro-batch
// instances per model to the endpoints, ensemble the answers, write results
// to the sink in batches, and ack each message only when every job in it is
// committed or dead-lettered with a reason.
//
// Every stage is bounded: the source's flow control bounds the messages
// held, and with them the jobs waiting for each model; batches in flight are
// bounded per model, and rows waiting and writes in flight at the sink. A
// model's queue never blocks intake (each is fair across tenants and lanes,
// and a failing model's tenant is deferred once it fills its share), so one
// model stalls only the jobs that need it; a full sink queue blocks the
// models, and through the flow control the pulling, instead of growing
// memory.
package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/batcher"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/ensemble"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/retry"
	"github.com/chorusml/chorus/worker/router"
)

// ClientFactory builds the endpoint client for a model. The worker calls it
// the first time a routed job needs the model, so models no job needs cost
// no connection, goroutine or memory.
type ClientFactory func(m config.Model) (endpoint.Client, error)

// Options wire a worker. Config must already be loaded and validated
// (defaults applied).
type Options struct {
	Config *config.Config
	Source sources.Source
	// Backfill, if set, is read beside Source; all its messages are
	// backfill (config backfill_source).
	Backfill sources.Source
	Sink     sinks.Sink
	Clients  ClientFactory
	Logger   zerolog.Logger
	// Metrics may be nil: the worker then keeps unregistered collectors.
	Metrics *metrics.Metrics
	// Now is the clock for scored_at and IdleFor (tests); default time.Now.
	Now func() time.Time
}

// Worker is one scoring worker. Create with New, start with Run.
type Worker struct {
	cfg      *config.Config
	src      sources.Source
	backfill sources.Source // nil when there is no backfill source
	sink     sinks.Sink
	clients  ClientFactory
	log      zerolog.Logger
	m        *metrics.Metrics
	now      func() time.Time

	router    *router.Router
	combiners []*ensemble.Combiner // by pipeline index
	limits    job.Limits
	weights   map[string]int                  // tenant → weight in the fair queues
	wildW     int                             // weight of tenants matched by "*"
	runIDLane batcher.Lane                    // lane of a live-source message carrying a run_id
	runners   []*modelRunner                  // by model index; started lazily
	settle    *settler                        // the completion stage: nacks and dead letters
	runCtx    atomic.Pointer[context.Context] // Run's context: done once stopping
	// shared[p] are the model indexes of pipeline p that serve every
	// tenant: readiness judges these, since one tenant's custom model being
	// down stops only that tenant.
	shared  [][]int
	tenants *tenantCounters

	workCtx  context.Context
	sinkB    *batcher.Batcher[*jobState]
	ackB     *batcher.Batcher[*msgState]
	inflight sync.WaitGroup
	ready    atomic.Bool
	sinkDown atomic.Bool           // a write is being held until the sink recovers
	recvErr  atomic.Pointer[error] // the last receive failure, nil once one succeeds
	// held counts messages received and not yet released; idleSince is
	// when it last fell to zero (unix ns), for IdleFor.
	held      atomic.Int64
	idleSince atomic.Int64
}

// New checks the wiring and builds routes and ensembles. It starts nothing.
func New(o Options) (*Worker, error) {
	if o.Config == nil || o.Source == nil || o.Sink == nil || o.Clients == nil {
		return nil, errors.New("worker: Config, Source, Sink and Clients are required")
	}
	cfg := o.Config
	rt, err := router.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{
		cfg: cfg, src: o.Source, backfill: o.Backfill, sink: o.Sink, clients: o.Clients, log: o.Logger,
		m: o.Metrics, now: o.Now, router: rt,
		limits: job.Limits{
			MaxTextBytes:      cfg.Limits.MaxTextBytes,
			MaxJobsPerMessage: cfg.Limits.MaxJobsPerMessage,
			MaxMessageBytes:   cfg.Limits.MaxMessageBytes,
			MaxKeyBytes:       cfg.Limits.MaxKeyBytes,
			MaxAttributeBytes: cfg.Limits.MaxAttributeBytes,
		},
	}
	if w.m == nil {
		w.m = metrics.New(nil)
	}
	if w.now == nil {
		w.now = time.Now
	}
	for i, p := range cfg.Pipelines {
		c, err := ensemble.New(p)
		if err != nil {
			return nil, fmt.Errorf("worker: pipelines[%d] (%s): %w", i, p.Name, err)
		}
		w.combiners = append(w.combiners, c)
	}
	w.runners = make([]*modelRunner, len(cfg.Models))
	byName := make(map[string]int, len(cfg.Models))
	for i := range cfg.Models {
		w.runners[i] = &modelRunner{w: w, cfg: &cfg.Models[i]}
		byName[cfg.Models[i].Name] = i
	}
	w.shared = make([][]int, len(cfg.Pipelines))
	for pi, p := range cfg.Pipelines {
		for _, ref := range slices.Concat(p.Sentiment.Models, p.Topics.Models) {
			if mi, ok := byName[ref.Model]; ok && len(cfg.Models[mi].Tenants) == 0 && !slices.Contains(w.shared[pi], mi) {
				w.shared[pi] = append(w.shared[pi], mi)
			}
		}
	}
	w.tenants = newTenantCounters(cfg, w.m)
	w.weights, w.wildW = make(map[string]int, len(cfg.Tenants)), 1
	for _, t := range cfg.Tenants {
		if t.Name == router.Wildcard {
			w.wildW = max(t.Weight, 1)
		} else {
			w.weights[t.Name] = max(t.Weight, 1)
		}
	}
	if cfg.Worker.Lanes.RunID != config.LaneLive {
		w.runIDLane = batcher.Backfill
	}
	return w, nil
}

// flow is the fair-queue flow of a job: its lane and tenant.
func flow(js *jobState) batcher.Flow {
	return batcher.Flow{Lane: js.msg.lane, Key: js.job.Tenant}
}

// weight is a flow's weight: its tenant's, or the wildcard's.
func (w *Worker) weight(f batcher.Flow) int {
	if n, ok := w.weights[f.Key]; ok {
		return n
	}
	return w.wildW
}

// backfillShare is worker.lanes.backfill_min_share.
func (w *Worker) backfillShare() float64 {
	if s := w.cfg.Worker.Lanes.BackfillMinShare; s != nil {
		return *s
	}
	return 0
}

// Ready reports whether the worker is pulling.
func (w *Worker) Ready() bool { return w.ready.Load() }

// SinkDown reports whether writes are failing and held for retry.
func (w *Worker) SinkDown() bool { return w.sinkDown.Load() }

// IdleFor is how long the worker has held no message: zero while it holds
// any, and the time since Run started if it never received one. A batch
// job (a nightly backlog on a subscription) uses it to stop once the queue
// is drained, since a subscription, unlike a file, has no end.
func (w *Worker) IdleFor() time.Duration {
	since := w.idleSince.Load()
	if w.held.Load() > 0 || since == 0 {
		return 0
	}
	return w.now().Sub(time.Unix(0, since))
}

// Health is the worker's readiness: nil when it pulls, the source answers,
// the sink takes writes and every pipeline has at least its quorum of models
// whose breakers are closed. The error says which of these fails.
func (w *Worker) Health() error {
	if c := w.runCtx.Load(); c != nil && (*c).Err() != nil {
		// Readiness falls at the signal, not when the pullers return.
		return errors.New("worker stopping: draining")
	}
	if !w.ready.Load() {
		return errors.New("worker not pulling")
	}
	if e := w.recvErr.Load(); e != nil {
		return fmt.Errorf("source: %w", *e)
	}
	if w.sinkDown.Load() {
		return errors.New("sink: writes failing, held for retry")
	}
	// A misconfigured model fails readiness whatever its pipeline's quorum:
	// no retry will fix it, so an operator must, and a green probe would
	// hide it. Transient failures count only against the quorum.
	var mis []string
	for mi, r := range w.runners {
		if c := r.misconfigured(); c != "" {
			mis = append(mis, w.cfg.Models[mi].Name+": "+c)
		}
	}
	if len(mis) > 0 {
		return fmt.Errorf("models misconfigured: %s", strings.Join(mis, "; "))
	}
	for pi := range w.cfg.Pipelines {
		p := &w.cfg.Pipelines[pi]
		var down []string
		total := len(w.shared[pi])
		for _, mi := range w.shared[pi] {
			if why := w.runners[mi].unhealthy(); why != "" {
				down = append(down, w.cfg.Models[mi].Name+": "+why)
			}
		}
		need := p.Quorum
		if need <= 0 || need > total {
			need = total
		}
		if total-len(down) < need {
			return fmt.Errorf("pipeline %s: %d of %d models healthy, quorum %d (%s)", p.Name, total-len(down), total, need, strings.Join(down, "; "))
		}
	}
	return nil
}

// closeBudget bounds each stage's Close after the drain.
const closeBudget = 5 * time.Second

// Run pulls and scores until ctx ends, then drains: it stops pulling,
// finishes in-flight work within the drain timeout, flushes the sink and
// the acks, and closes the source and the sink. Messages still unresolved
// at the drain deadline are released by the source's Close for redelivery.
// Run returns nil after a clean drain, or the error that stopped it.
func (w *Worker) Run(ctx context.Context) error {
	// Work already pulled must outlive ctx (SIGTERM) to be finished; it is
	// abandoned only at the drain deadline.
	workCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	w.workCtx = workCtx

	sb := w.cfg.Sink.Batch
	// Rows wait in lanes too: a backfill's rows queued for the sink must
	// not hold live rows back.
	w.sinkB = batcher.NewFlows(workCtx, batcher.Policy{
		MaxItems: sb.MaxRows, Linger: sb.Linger, MaxInFlight: sb.MaxInFlight, MaxWaiting: sb.MaxWaiting,
		Weight: w.weight, BackfillShare: w.backfillShare(),
	}, nil, flow, w.writeRows)
	w.settle = newSettler(workCtx)
	w.ackB = batcher.New(workCtx, batcher.Policy{
		MaxItems: 1000, Linger: 5 * time.Millisecond, MaxInFlight: 2, MaxWaiting: 4 * w.cfg.Worker.MaxOutstandingMessages,
	}, nil, w.sendAcks)

	w.idleSince.Store(w.now().UnixNano())
	g, pullCtx := errgroup.WithContext(ctx)
	pullers := max(w.cfg.Worker.Pullers, 1)
	for range pullers {
		g.Go(func() error { return w.pull(pullCtx, w.src, batcher.Live) })
		if w.backfill != nil {
			g.Go(func() error { return w.pull(pullCtx, w.backfill, batcher.Backfill) })
		}
	}
	w.runCtx.Store(&ctx)
	w.ready.Store(true)
	w.log.Info().Int("pullers", pullers).Int("models", len(w.cfg.Models)).Bool("backfill_source", w.backfill != nil).Msg("worker started")
	pullErr := g.Wait()
	w.ready.Store(false)
	if pullErr != nil && !errors.Is(pullErr, context.Canceled) {
		w.log.Error().Err(pullErr).Msg("pulling stopped")
	}

	// Drain: every message pulled is resolved (acked, nacked) or the
	// deadline passes.
	drainTimeout := w.cfg.Worker.DrainTimeout
	drained := make(chan struct{})
	go func() {
		w.inflight.Wait()
		close(drained)
	}()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	clean := true
	select {
	case <-drained:
	case <-timer.C:
		clean = false
		w.log.Warn().Dur("drain_timeout", drainTimeout).Msg("drain timed out; releasing unfinished messages for redelivery")
		abandon()
	}
	// Close in the order data flows, each stage with a budget of its own:
	// a source slow to close (a long poll) must not leave the sink no
	// time to flush.
	stage := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), closeBudget)
	}
	// The order is the data's: models, then the sink's queue (rows the
	// models finished), then the completion stage (which may still ack: a
	// dead letter parked, then its message acked), then the acks. A stage
	// that cannot finish within the budget leaves its messages unacked, and
	// the source's Close releases them: they are redelivered, not lost, so
	// that is logged, not an error exit.
	closeCtx, cancel := stage()
	var stageErrs []error
	for mi, r := range w.runners {
		if err := r.close(closeCtx); err != nil {
			stageErrs = append(stageErrs, fmt.Errorf("model %s: %w", w.cfg.Models[mi].Name, err))
		}
	}
	for _, st := range []struct {
		name  string
		close func(context.Context) error
	}{{"sink queue", w.sinkB.Close}, {"completion stage", w.settle.Close}, {"acks", w.ackB.Close}} {
		if err := st.close(closeCtx); err != nil {
			stageErrs = append(stageErrs, fmt.Errorf("%s: %w", st.name, err))
		}
	}
	cancel()
	abandon()
	for _, err := range stageErrs {
		w.log.Error().Err(err).Dur("budget", closeBudget).Msg("stage did not finish closing within its budget; its messages are released for redelivery")
	}
	var errs []error
	srcCtx, cancel := stage()
	// Both sources close at once, each within the one stage budget: a
	// long poll on one must not eat the other's.
	var srcErrs [2]error
	var srcWG sync.WaitGroup
	for i, src := range []sources.Source{w.src, w.backfill} {
		if src == nil {
			continue
		}
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			srcErrs[i] = src.Close(srcCtx)
		}()
	}
	srcWG.Wait()
	if srcErrs[0] != nil {
		errs = append(errs, fmt.Errorf("closing source: %w", srcErrs[0]))
	}
	if srcErrs[1] != nil {
		errs = append(errs, fmt.Errorf("closing backfill source: %w", srcErrs[1]))
	}
	cancel()
	sinkCtx, cancel := stage()
	if err := w.sink.Close(sinkCtx); err != nil {
		errs = append(errs, fmt.Errorf("closing sink: %w", err))
	}
	cancel()
	if pullErr != nil && !errors.Is(pullErr, context.Canceled) {
		errs = append(errs, pullErr)
	}
	// A drain that timed out lost nothing: what was not finished was
	// released for redelivery (see README, "Shutdown"), so it is not an
	// error exit.
	w.log.Info().Bool("clean", clean).Msg("worker stopped")
	return errors.Join(errs...)
}

// receivePolicy paces receive retries: doubling from 200ms to 10s, exact,
// for as long as the failures last.
var receivePolicy = retry.Policy{MaxAttempts: retry.Forever, Initial: 200 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2, Jitter: retry.NoJitter}

// pull receives until ctx ends. Transient receive errors back off; a
// permanent one (missing subscription, bad credentials) stops the worker.
func (w *Worker) pull(ctx context.Context, src sources.Source, lane batcher.Lane) error {
	max := max(w.cfg.Worker.ReceiveBatch, 1)
	var backoff *retry.Backoff // while receives are failing
	for ctx.Err() == nil {
		msgs, err := src.Receive(ctx, max)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !errkind.IsRetryable(err) {
				return fmt.Errorf("receive: %w", err)
			}
			if backoff == nil {
				backoff = receivePolicy.Backoff()
			}
			w.recvErr.Store(&err)
			hint, _ := errkind.RetryAfterOf(err)
			d, _ := backoff.Next(hint) // Forever: never spent
			w.log.Warn().Err(err).Dur("backoff", d).Msg("receive failed")
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		if backoff != nil {
			backoff = nil
			w.recvErr.Store(nil)
		}
		for _, m := range msgs {
			w.handle(ctx, src, lane, m)
		}
	}
	return nil
}

// handle decodes and routes one message and hands its jobs to the models.
// Adding never blocks on a model: each model's queue is fair across
// tenants and bounded by the messages the source lets the worker hold. A
// message whose jobs would queue behind a failing model that their tenant
// already fills is deferred instead (see behind). At shutdown a job that
// can no longer be queued is released for redelivery.
func (w *Worker) handle(ctx context.Context, src sources.Source, lane batcher.Lane, m *sources.Message) {
	w.inflight.Add(1)
	w.held.Add(1)
	w.m.MessagesReceived.Inc()
	w.m.InFlightMessages.Inc()
	if m.DeliveryAttempt > 0 {
		w.m.DeliveryAttempts.Observe(float64(m.DeliveryAttempt))
	}
	now := time.Now()
	if !m.PublishTime.IsZero() {
		age := max(now.Sub(m.PublishTime), 0).Seconds()
		w.m.MessageAge.Observe(age)
		w.m.BacklogAge.Set(age)
	}
	if lane == batcher.Live && m.Attributes[job.AttrRunID] != "" {
		lane = w.runIDLane
	}
	ms := &msgState{w: w, src: src, lane: lane, msg: m, received: now}
	entries, err := job.Decode(m.Body, m.Attributes, w.limits)
	if err != nil {
		ms.pending.Store(1)
		w.deadLetter(ms, []deadJob{{raw: m.Body, err: err, stage: "decode", tenant: m.Attributes[job.AttrTenant]}})
		return
	}
	// Route every job before queueing any: a message is deferred whole.
	var dead []deadJob
	routes := make([]*router.Route, len(entries))
	pipeline := m.Attributes[job.AttrPipeline]
	for i := range entries {
		e := &entries[i]
		if e.Err != nil {
			dead = append(dead, deadJob{raw: e.Raw, err: e.Err, stage: "decode", tenant: e.Job.Tenant})
			continue
		}
		route, err := w.router.Route(e.Job.Tenant, pipeline)
		if err != nil {
			dead = append(dead, deadJob{raw: e.Raw, err: err, stage: "route", tenant: e.Job.Tenant})
			continue
		}
		routes[i] = route
	}
	if mi := w.behind(lane, entries, routes); mi >= 0 {
		w.deferMessage(ms, w.cfg.Models[mi].Name)
		return
	}
	ms.pending.Store(int32(len(entries)))
	for i := range entries {
		e, route := &entries[i], routes[i]
		if route == nil {
			continue
		}
		w.m.InFlightJobs.Inc()
		js := &jobState{msg: ms, job: e.Job, raw: e.Raw, route: route, outs: make([]slot, len(route.Models))}
		js.remaining.Store(int32(len(route.Models)))
		for s, mi := range route.Models {
			if err := w.runners[mi].add(ctx, js, s); err != nil {
				js.deliver(s, nil, "", err)
			}
		}
	}
	if len(dead) > 0 {
		w.deadLetter(ms, dead)
	}
}

// behind returns the index of a model that the message's jobs would queue
// behind for nothing, or -1. A model is such when its calls are failing
// (breaker open, errors or Retry-After on its latest request) and the job's
// tenant already has the model's batch.max_waiting jobs waiting for it in
// the job's lane. Held, those messages would only take the worker's flow
// control from every other tenant until the source stops delivering
// anyone's; handed back to the broker they wait there instead. While the
// worker holds under half its max_outstanding_messages, nobody is short of
// room, so they are held: each deferral costs a delivery at the broker.
func (w *Worker) behind(lane batcher.Lane, entries []job.Entry, routes []*router.Route) int {
	if w.held.Load() < int64(w.cfg.Worker.MaxOutstandingMessages/2) {
		return -1
	}
	for i, route := range routes {
		if route == nil {
			continue
		}
		f := batcher.Flow{Lane: lane, Key: entries[i].Job.Tenant}
		for _, mi := range route.Models {
			if w.runners[mi].behind(f) {
				return mi
			}
		}
	}
	return -1
}

// deferMessage hands ms back to the broker with the nack backoff as its
// delay, on the completion stage. It is not a failure: no job of it was
// tried, so Chorus counts no attempt of its own (the broker counts the
// redelivery; README, "Isolation").
func (w *Worker) deferMessage(ms *msgState, model string) {
	w.m.MessagesDeferred.WithLabelValues(model).Inc()
	w.settle.do(func(ctx context.Context) {
		delay, err := w.nack(ctx, ms)
		if err != nil {
			w.log.Warn().Err(err).Str("message_id", ms.msg.ID).Msg("deferring failed; the source will redeliver after its deadline")
		} else {
			w.log.Debug().Str("message_id", ms.msg.ID).Str("model", model).Dur("delay", delay).Msg("message deferred: a model it needs is failing and its tenant's queue for it is full")
		}
		ms.release()
	})
}
