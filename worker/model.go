package worker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorusml/chorus/worker/batcher"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/call"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// modelRunner owns one model's client and batcher. Both are created on the
// first job routed to the model: a model no job needs costs nothing.
type modelRunner struct {
	w   *Worker
	cfg *config.Model

	once    sync.Once
	started atomic.Bool // set once start has filled the fields below
	initErr error
	run     *call.Runner
	b       *batcher.Batcher[item]
	breaker *retry.Breaker

	latency, size, fill prometheus.Observer
	items, failures     prometheus.Counter
	up                  prometheus.Gauge
	waiting             [2]prometheus.Gauge // by lane
	// failing is set while the model's latest request failed in a way a
	// retry might fix (5xx, 429, timeouts): with the breaker, it says the
	// model is not draining its queue.
	failing atomic.Bool

	// misMu guards the misconfiguration being reported, so that a model
	// that stays broken logs one line, not one per batch.
	misMu    sync.Mutex
	misCause string // the reason of the one reported now
	misLabel string // the reason label set on the gauge
}

// item is one job's instance for one model.
type item struct {
	js   *jobState
	slot int
}

func (r *modelRunner) start() {
	m := r.cfg
	client, err := r.w.clients(*m)
	if err != nil {
		r.initErr = errkind.New(errkind.Permanent, ReasonEndpointConfig, fmt.Errorf("model %s: %w", m.Name, err))
		r.w.log.Error().Err(err).Str("model", m.Name).Msg("cannot create endpoint client")
		r.started.Store(true)
		return
	}
	r.breaker = retry.NewBreaker(m.Breaker.Failures, m.Breaker.Cooldown)
	wm := r.w.m
	r.latency = wm.EndpointLatency.WithLabelValues(m.Name)
	r.size = wm.BatchSize.WithLabelValues(m.Name)
	r.fill = wm.BatchFill.WithLabelValues(m.Name)
	r.items = wm.EndpointItems.WithLabelValues(m.Name)
	r.failures = wm.ModelsFailed.WithLabelValues(m.Name)
	r.up = wm.EndpointUp.WithLabelValues(m.Name)
	r.up.Set(1)
	sizer := call.NewSizer(m.Batch.MaxItems, func(n int) {
		r.b.SetMaxItems(n)
		r.w.log.Info().Str("model", m.Name).Int("max_items", n).Msg("model batch size now")
	})
	r.run = &call.Runner{
		Client: client, Breaker: r.breaker, Sizer: sizer, Cooldown: m.Breaker.Cooldown,
		Policy: m.Retry.Policy(),
		Observe: func(n int, d time.Duration, err error) {
			r.latency.Observe(d.Seconds())
			r.failing.Store(err != nil && (errkind.IsRetryable(err) || errkind.KindOf(err) == errkind.Misconfigured))
			if err != nil {
				wm.EndpointErrors.WithLabelValues(m.Name, string(errkind.ReasonOf(err))).Inc()
			}
		},
	}
	r.waiting = [2]prometheus.Gauge{
		wm.ModelWaiting.WithLabelValues(m.Name, batcher.Live.String()),
		wm.ModelWaiting.WithLabelValues(m.Name, batcher.Backfill.String()),
	}
	// Unbounded: adding never blocks intake on this model. What waits is
	// bounded by the messages the source lets the worker hold, and per
	// tenant by deferral (Worker.behind) while the model is failing.
	r.b = batcher.NewFlows(r.w.workCtx, batcher.Policy{
		MaxItems: m.Batch.MaxItems, MaxBytes: m.Batch.MaxBytes, Linger: m.Batch.Linger,
		MaxInFlight: m.MaxInFlight, MaxWaiting: m.Batch.MaxWaiting, Unbounded: true,
		Weight: r.w.weight, BackfillShare: r.w.backfillShare(),
	}, func(it item) int { return len(it.js.job.Text) }, func(it item) batcher.Flow { return flow(it.js) }, r.send)
	r.started.Store(true)
	r.w.log.Info().Str("model", m.Name).Str("protocol", m.Protocol).Msg("model endpoint first used")
}

// add queues js's instance; it does not block.
func (r *modelRunner) add(ctx context.Context, js *jobState, slot int) error {
	r.once.Do(r.start)
	if r.initErr != nil {
		return r.initErr
	}
	return r.b.Add(ctx, item{js: js, slot: slot})
}

// behind reports whether the model is failing and flow already has
// batch.max_waiting jobs waiting for it.
func (r *modelRunner) behind(f batcher.Flow) bool {
	if !r.started.Load() || r.initErr != nil {
		return false
	}
	if !r.failing.Load() && !r.breaker.Open() {
		return false
	}
	return r.b.Waiting(f) >= r.cfg.Batch.MaxWaiting
}

func (r *modelRunner) close(ctx context.Context) error {
	if !r.started.Load() || r.b == nil {
		return nil
	}
	return r.b.Close(ctx)
}

// send is the batcher's send function: one endpoint batch.
func (r *modelRunner) send(ctx context.Context, batch []item) {
	r.size.Observe(float64(len(batch)))
	r.waiting[batcher.Live].Set(float64(r.b.LaneLen(batcher.Live)))
	r.waiting[batcher.Backfill].Set(float64(r.b.LaneLen(batcher.Backfill)))
	r.fill.Observe(float64(len(batch)) / float64(max(r.cfg.Batch.MaxItems, 1)))
	r.predict(ctx, batch)
}

// predict scores batch and delivers every item. An item the model cannot
// score because the model is misconfigured waits here, probed once per
// breaker cooldown, when its job cannot reach its pipeline's quorum
// without this model: nacking it would only cycle it through redeliveries
// into the dead-letter topic for a fault that is not its own. Jobs that can
// do without the model get the error now and are written partial.
func (r *modelRunner) predict(ctx context.Context, batch []item) {
	all := batch
	// Tokens an LLM endpoint bills for this batch, retries included, go
	// to its tenants (llm_tokens.go).
	var usage endpoint.UsageMeter
	ctx = endpoint.WithUsageMeter(ctx, &usage)
	var spent time.Duration
	texts := make([]string, len(batch))
	for i, it := range batch {
		texts[i] = it.js.job.Text
	}
	outs := make([]call.Outcome, len(batch))
	for {
		spent += r.run.Predict(ctx, texts, outs)
		var held []item
		var heldErr error
		for i, it := range batch {
			o := outs[i]
			if ctx.Err() != nil && o.Err != nil {
				// Abandoned at the drain deadline: released, not failed.
				o.Err = errkind.New(errkind.Canceled, ReasonShutdown, o.Err)
			}
			if errkind.KindOf(o.Err) == errkind.Misconfigured && !r.w.canLose(it.js, it.slot) {
				held = append(held, it)
				heldErr = o.Err
				continue
			}
			r.deliver(it, o)
		}
		r.report(outs)
		if len(held) == 0 {
			break
		}
		batch = held
		texts = texts[:0]
		for _, it := range held {
			texts = append(texts, it.js.job.Text)
		}
		outs = outs[:len(held)]
		r.w.log.Debug().Err(heldErr).Str("model", r.cfg.Name).Int("held", len(held)).Msg("holding jobs for a misconfigured model")
		t := time.NewTimer(r.cfg.Breaker.Cooldown)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	r.chargeTenants(all, spent)
	r.chargeTokens(all, usage.Total())
}

// deliver hands one outcome to its job.
func (r *modelRunner) deliver(it item, o call.Outcome) {
	if o.Err != nil {
		r.failures.Inc()
		it.js.deliver(it.slot, nil, "", o.Err)
		return
	}
	r.items.Inc()
	it.js.deliver(it.slot, o.Scores, o.Version, nil)
}

// report updates the model's health metrics and logs a change of state
// once: a misconfiguration is one clear line saying what to fix.
func (r *modelRunner) report(outs []call.Outcome) {
	if r.breaker.Open() {
		r.up.Set(0)
	} else {
		r.up.Set(1)
	}
	var mis, other error
	for _, o := range outs {
		switch {
		case o.Err == nil:
		case errkind.KindOf(o.Err) == errkind.Misconfigured:
			mis = o.Err
		default:
			other = o.Err
		}
	}
	if other != nil {
		r.w.log.Warn().Err(other).Str("model", r.cfg.Name).Str("reason", string(errkind.ReasonOf(other))).Msg("model failed some of a batch")
	}
	r.misMu.Lock()
	defer r.misMu.Unlock()
	switch {
	case mis != nil:
		// Keyed by reason: while the breaker is open its refusals wrap the
		// first error in other words, and one state is one log line.
		reason := string(errkind.ReasonOf(mis))
		cause := reason
		if cause == r.misCause {
			return
		}
		if r.misLabel != "" && r.misLabel != reason {
			r.w.m.ModelMisconfigured.DeleteLabelValues(r.cfg.Name, r.misLabel)
		}
		r.misCause, r.misLabel = cause, reason
		r.w.m.ModelMisconfigured.WithLabelValues(r.cfg.Name, reason).Set(1)
		r.w.log.Error().Err(mis).Str("model", r.cfg.Name).Str("reason", reason).
			Msg("model is misconfigured: fix its config or its server; its jobs wait (or are written partial where the quorum allows) and it is probed once per breaker cooldown")
	case r.misLabel != "" && !r.breaker.Open():
		r.w.m.ModelMisconfigured.DeleteLabelValues(r.cfg.Name, r.misLabel)
		r.w.log.Info().Str("model", r.cfg.Name).Str("was", r.misLabel).Msg("model answers again")
		r.misCause, r.misLabel = "", ""
	}
}

// chargeTenants splits a batch's endpoint time between its tenants by item
// count. Batches from a shared model mix tenants; the split is what makes
// "GPU seconds per tenant" add up to the endpoint's real busy time.
func (r *modelRunner) chargeTenants(batch []item, spent time.Duration) {
	if spent <= 0 || len(batch) == 0 {
		return
	}
	per := spent.Seconds() / float64(len(batch))
	// Batches hold few tenants, usually runs of one: a linear scan of the
	// tenants seen so far beats a map here.
	type share struct {
		tenant string
		n      int
	}
	var buf [8]share
	shares := buf[:0]
outer:
	for _, it := range batch {
		t := r.w.tenants.get(it.js.job.Tenant).label
		for i := range shares {
			if shares[i].tenant == t {
				shares[i].n++
				continue outer
			}
		}
		shares = append(shares, share{t, 1})
	}
	for _, s := range shares {
		r.w.m.EndpointSeconds.WithLabelValues(r.cfg.Name, s.tenant).Add(per * float64(s.n))
	}
}

// unhealthy says why the model cannot take calls, or "" when it can: a
// model not yet used counts as healthy, since nothing says otherwise.
func (r *modelRunner) unhealthy() string {
	if !r.started.Load() {
		return ""
	}
	if r.initErr != nil {
		return "client: " + r.initErr.Error()
	}
	if !r.breaker.Open() {
		return ""
	}
	if c := r.breaker.Cause(); c != nil {
		return "misconfigured (" + string(errkind.ReasonOf(c)) + "): " + c.Error()
	}
	return "breaker open"
}

// misconfigured says why the model is misconfigured, or "".
func (r *modelRunner) misconfigured() string {
	if !r.started.Load() || r.initErr != nil {
		return ""
	}
	if c := r.breaker.Cause(); c != nil {
		return string(errkind.ReasonOf(c)) + ": " + c.Error()
	}
	return ""
}

// canLose reports whether the job of this slot can still reach its
// pipeline's quorum without the slot's model: another routed model must
// feed each output the model feeds, and the quorum must leave room.
func (w *Worker) canLose(js *jobState, slot int) bool {
	route := js.route
	n := len(route.Models)
	need := route.Pipeline.Quorum
	if need <= 0 || need > n {
		need = n
	}
	if n-1 < need {
		return false
	}
	name := w.cfg.Models[route.Models[slot]].Name
	p := route.Pipeline
	for _, refs := range [][]config.ModelRef{p.Sentiment.Models, p.Topics.Models} {
		in, other := false, false
		for _, ref := range refs {
			if ref.Model == name {
				in = true
				continue
			}
			for _, mi := range route.Models {
				if w.cfg.Models[mi].Name == ref.Model {
					other = true
				}
			}
		}
		if in && !other {
			return false
		}
	}
	return true
}
