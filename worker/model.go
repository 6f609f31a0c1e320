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
	client  endpoint.Client
	b       *batcher.Batcher[item]
	breaker *retry.Breaker
	policy  retry.Policy

	latency, size, fill prometheus.Observer
	items, failures     prometheus.Counter
	up                  prometheus.Gauge
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
		r.initErr = errkind.New(errkind.Permanent, "endpoint_config", fmt.Errorf("model %s: %w", m.Name, err))
		r.w.log.Error().Err(err).Str("model", m.Name).Msg("cannot create endpoint client")
		r.started.Store(true)
		return
	}
	r.client = client
	r.breaker = retry.NewBreaker(m.Breaker.Failures, m.Breaker.Cooldown)
	r.policy = retry.Policy{MaxAttempts: m.Retry.MaxAttempts, Initial: m.Retry.Backoff.Initial, Max: m.Retry.Backoff.Max, MaxElapsed: m.Retry.MaxElapsed}
	wm := r.w.m
	r.latency = wm.EndpointLatency.WithLabelValues(m.Name)
	r.size = wm.BatchSize.WithLabelValues(m.Name)
	r.fill = wm.BatchFill.WithLabelValues(m.Name)
	r.items = wm.EndpointItems.WithLabelValues(m.Name)
	r.failures = wm.ModelsFailed.WithLabelValues(m.Name)
	r.up = wm.EndpointUp.WithLabelValues(m.Name)
	r.up.Set(1)
	r.b = batcher.New(r.w.workCtx, batcher.Policy{
		MaxItems: m.Batch.MaxItems, MaxBytes: m.Batch.MaxBytes, Linger: m.Batch.Linger,
		MaxInFlight: m.MaxInFlight, MaxWaiting: m.Batch.MaxWaiting,
	}, func(it item) int { return len(it.js.job.Text) }, r.send)
	r.started.Store(true)
	r.w.log.Info().Str("model", m.Name).Str("protocol", m.Protocol).Msg("model endpoint first used")
}

// add queues js's instance, blocking while the model's queue is full.
func (r *modelRunner) add(ctx context.Context, js *jobState, slot int) error {
	r.once.Do(r.start)
	if r.initErr != nil {
		return r.initErr
	}
	return r.b.Add(ctx, item{js: js, slot: slot})
}

func (r *modelRunner) close(ctx context.Context) {
	if r.b != nil {
		_ = r.b.Close(ctx)
	}
}

// send is the batcher's send function: one endpoint batch.
func (r *modelRunner) send(ctx context.Context, batch []item) {
	texts := make([]string, len(batch))
	for i, it := range batch {
		texts[i] = it.js.job.Text
	}
	r.size.Observe(float64(len(batch)))
	r.fill.Observe(float64(len(batch)) / float64(max(r.cfg.Batch.MaxItems, 1)))
	r.predict(ctx, batch, texts)
}

func (r *modelRunner) predict(ctx context.Context, batch []item, texts []string) {
	var res *endpoint.Result
	var spent time.Duration // endpoint time over every attempt
	err := retry.Do(ctx, r.policy, r.breaker, func(ctx context.Context) error {
		start := time.Now()
		var err error
		res, err = r.client.Predict(ctx, texts)
		d := time.Since(start)
		spent += d
		r.latency.Observe(d.Seconds())
		if err == nil && len(res.Scores) != len(texts) {
			err = errkind.Errorf(errkind.Retryable, "bad_response", "model %s: %d predictions for %d instances", r.cfg.Name, len(res.Scores), len(texts))
		}
		if err != nil {
			r.w.m.EndpointErrors.WithLabelValues(r.cfg.Name, errkind.ReasonOf(err)).Inc()
		}
		return err
	}, nil)
	r.chargeTenants(batch, spent)
	if r.breaker.Open() {
		r.up.Set(0)
	} else {
		r.up.Set(1)
	}
	if err != nil && errkind.ReasonOf(err) == "batch_too_large" && len(batch) > 1 {
		// The endpoint takes smaller batches than configured: learn it and
		// split this one rather than fail its jobs.
		h := len(batch) / 2
		r.b.LowerMaxItems(h)
		r.w.log.Warn().Str("model", r.cfg.Name).Int("batch", len(batch)).Msg("endpoint rejected batch as too large; splitting")
		r.predict(ctx, batch[:h], texts[:h])
		r.predict(ctx, batch[h:], texts[h:])
		return
	}
	if err != nil {
		r.failures.Add(float64(len(batch)))
		r.w.log.Warn().Err(err).Str("model", r.cfg.Name).Int("batch", len(batch)).Msg("model failed batch")
		for _, it := range batch {
			it.js.deliver(it.slot, nil, "", err)
		}
		return
	}
	r.items.Add(float64(len(batch)))
	for i, it := range batch {
		it.js.deliver(it.slot, res.Scores[i], res.Version, nil)
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

// healthy reports whether the model can take calls: a model not yet used
// counts as healthy, since nothing says otherwise.
func (r *modelRunner) healthy() bool {
	if !r.started.Load() {
		return true
	}
	return r.initErr == nil && !r.breaker.Open()
}
