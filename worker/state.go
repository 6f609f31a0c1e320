package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/batcher"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/ensemble"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/retry"
	"github.com/chorusml/chorus/worker/router"
)

// Reasons of the errors the worker makes itself.
const (
	// ReasonShutdown marks work cut off by shutdown: its message is released
	// for redelivery, not nacked or dead-lettered.
	ReasonShutdown errkind.Reason = "shutdown"
	// ReasonSinkWriteFailed: a sink write failed as a whole; its jobs are
	// retried.
	ReasonSinkWriteFailed errkind.Reason = "sink_write_failed"
	// ReasonSinkRejected: the sink refused a job's row; the job is
	// dead-lettered.
	ReasonSinkRejected errkind.Reason = "sink_rejected"
	// ReasonEndpointConfig: a model's endpoint config cannot be used.
	ReasonEndpointConfig errkind.Reason = "endpoint_config"
)

// sourcePolicy retries ack, nack and dead-letter calls to the source.
var sourcePolicy = retry.Policy{MaxAttempts: 5, Initial: 100 * time.Millisecond, Max: 2 * time.Second, MaxElapsed: 30 * time.Second}

// msgState tracks one message until every job in it is resolved.
type msgState struct {
	w        *Worker
	src      sources.Source // where msg came from: its ack, nack and dead letters go back there
	lane     batcher.Lane
	msg      *sources.Message
	received time.Time
	pending  atomic.Int32 // jobs not yet committed, dead-lettered or failed

	mu     sync.Mutex
	failed []deadJob // jobs that failed transiently
}

// deadJob is a payload that failed, with where and why.
type deadJob struct {
	raw    []byte
	err    error
	stage  string
	tenant string
}

// resolve marks n jobs done (committed or dead-lettered).
func (ms *msgState) resolve(n int) {
	if ms.pending.Add(-int32(n)) == 0 {
		ms.complete()
	}
}

// fail marks one job as failed transiently: the message will be nacked, or
// the job dead-lettered once delivery attempts are spent.
func (ms *msgState) fail(d deadJob) {
	ms.mu.Lock()
	ms.failed = append(ms.failed, d)
	ms.mu.Unlock()
	ms.resolve(1)
}

// complete acks, nacks or dead-letters the message once all jobs are done.
// Acks go through the ack batcher; nacks and dead letters, with their
// retries, through the completion stage, never on the caller's goroutine.
func (ms *msgState) complete() {
	w := ms.w
	ms.mu.Lock()
	failed := ms.failed
	ms.mu.Unlock()
	if len(failed) == 0 {
		if err := w.ackB.Add(w.workCtx, ms); err != nil {
			ms.release() // abandoned at the drain deadline: Close redelivers it
		}
		return
	}
	for _, d := range failed {
		if errkind.KindOf(d.err) == errkind.Canceled {
			// Cut off by shutdown, not failed: no nack (which would spend a
			// delivery attempt with a wrong reason); the source's Close
			// releases the message for redelivery.
			w.m.MessagesReleased.Inc()
			w.log.Info().Str("message_id", ms.msg.ID).Msg("released at shutdown for redelivery")
			ms.release()
			return
		}
	}
	w.settle.do(func(ctx context.Context) { w.settleFailed(ctx, ms, failed) })
}

// settleFailed nacks a message with failed jobs, or dead-letters them once
// its delivery attempts are spent.
func (w *Worker) settleFailed(ctx context.Context, ms *msgState, failed []deadJob) {
	max := w.cfg.Worker.MaxDeliveryAttempts
	if max > 0 && ms.msg.DeliveryAttempt >= max {
		// Attempts are spent: park the failed jobs with their last error
		// rather than nack the message into an endless loop.
		if w.park(ctx, ms, failed) == nil {
			if err := w.ackB.Add(ctx, ms); err != nil {
				ms.release()
			}
			return
		}
	}
	for _, d := range failed {
		w.tenants.get(d.tenant).retried.Inc()
	}
	attempt := max1(ms.msg.DeliveryAttempt)
	delay, err := w.nack(ctx, ms)
	if err != nil {
		w.log.Warn().Err(err).Str("message_id", ms.msg.ID).Msg("nack failed; the source will redeliver after its deadline")
	} else {
		w.m.MessagesNacked.Inc()
		w.log.Info().Str("message_id", ms.msg.ID).Int("attempt", attempt).Dur("delay", delay).
			Str("reason", string(errkind.ReasonOf(failed[0].err))).Msg("message nacked for redelivery")
	}
	ms.release()
}

// nack hands ms back to its source for redelivery after its nack delay,
// which it returns. A nack that fails is counted; the source redelivers
// after its own deadline anyway.
func (w *Worker) nack(ctx context.Context, ms *msgState) (time.Duration, error) {
	delay := w.nackDelay(ms.msg)
	err := retry.Do(ctx, sourcePolicy, nil, func(ctx context.Context) error {
		return ms.src.Nack(ctx, []*sources.Message{ms.msg}, delay)
	}, nil)
	if err != nil {
		w.m.SettleFailures.WithLabelValues(metrics.OpNack).Inc()
	}
	return delay, err
}

// maxNackDoublings is how many times the nack delay doubles at most, short
// of worker.nack_backoff.max: a bound kept from when the delay was a shift
// that had to stay clear of overflow, so delays stay what they were.
const maxNackDoublings = 20

// nackDelay is the redelivery delay for msg: worker.nack_backoff, doubling
// with its delivery attempt. The broker counts the attempts, so the delay
// is the policy's wait for that attempt, without jitter.
func (w *Worker) nackDelay(msg *sources.Message) time.Duration {
	nb := w.cfg.Worker.NackBackoff
	p := retry.Policy{Initial: nb.Initial, Max: nb.Max, Multiplier: 2, Jitter: retry.NoJitter}
	return p.Wait(min(max1(msg.DeliveryAttempt), maxNackDoublings+1))
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// release ends the worker's responsibility for the message.
func (ms *msgState) release() {
	ms.w.m.InFlightMessages.Dec()
	if ms.w.held.Add(-1) == 0 {
		ms.w.idleSince.Store(ms.w.now().UnixNano())
	}
	ms.w.inflight.Done()
}

// sendAcks is the ack batcher's send function: one Ack call per source.
func (w *Worker) sendAcks(ctx context.Context, batch []*msgState) {
	for len(batch) > 0 {
		src := batch[0].src
		var mine, rest []*msgState
		for _, ms := range batch {
			if ms.src == src {
				mine = append(mine, ms)
			} else {
				rest = append(rest, ms)
			}
		}
		w.ack(ctx, src, mine)
		batch = rest
	}
}

func (w *Worker) ack(ctx context.Context, src sources.Source, batch []*msgState) {
	msgs := make([]*sources.Message, len(batch))
	for i, ms := range batch {
		msgs[i] = ms.msg
	}
	err := retry.Do(ctx, sourcePolicy, nil, func(ctx context.Context) error {
		return src.Ack(ctx, msgs)
	}, nil)
	if err != nil {
		// Results are committed; a lost ack only means a redelivery that
		// the sink's idempotency absorbs.
		w.m.SettleFailures.WithLabelValues(metrics.OpAck).Add(float64(len(msgs)))
		w.log.Warn().Err(err).Int("messages", len(msgs)).Msg("ack failed; messages will be redelivered")
	} else {
		w.m.MessagesAcked.Add(float64(len(msgs)))
	}
	for _, ms := range batch {
		ms.release()
	}
}

// park dead-letters payloads of ms with their reasons.
func (w *Worker) park(ctx context.Context, ms *msgState, dead []deadJob) error {
	dls := make([]sources.DeadLetter, len(dead))
	for i, d := range dead {
		dls[i] = sources.DeadLetter{Message: ms.msg, Body: d.raw, Reason: string(errkind.ReasonOf(d.err)), Detail: d.err.Error(), Stage: d.stage}
	}
	err := retry.Do(ctx, sourcePolicy, nil, func(ctx context.Context) error {
		return ms.src.DeadLetter(ctx, dls)
	}, nil)
	if err != nil {
		w.m.SettleFailures.WithLabelValues(metrics.OpDeadLetter).Inc()
		w.log.Error().Err(err).Str("message_id", ms.msg.ID).Msg("dead-letter failed; message will be retried")
		return err
	}
	for i, d := range dead {
		w.m.DeadLetters.WithLabelValues(dls[i].Reason, d.stage).Inc()
		w.tenants.get(d.tenant).dead.Inc()
		w.log.Warn().Str("message_id", ms.msg.ID).Str("tenant", d.tenant).Str("run_id", ms.msg.Attributes[job.AttrRunID]).
			Str("reason", dls[i].Reason).Str("stage", d.stage).Str("detail", dls[i].Detail).Msg("dead-lettered")
	}
	return nil
}

// deadLetter parks payloads found bad (at decode, routing, the endpoint or
// the sink) and resolves them, on the completion stage; if parking fails
// they count as transient failures (nack).
func (w *Worker) deadLetter(ms *msgState, dead []deadJob) {
	w.settle.do(func(ctx context.Context) {
		if err := w.park(ctx, ms, dead); err != nil {
			for _, d := range dead {
				ms.fail(deadJob{raw: d.raw, err: err, stage: d.stage, tenant: d.tenant})
			}
			return
		}
		ms.resolve(len(dead))
	})
}

// slot is one model's answer for one job.
type slot struct {
	scores  []float64
	version string
	err     error
}

// jobState tracks one routed job until its result is written.
type jobState struct {
	msg       *msgState
	job       job.Job
	raw       json.RawMessage
	route     *router.Route
	outs      []slot // by route.Models position
	remaining atomic.Int32
	result    sinks.Result
}

// deliver records model s's answer; the last answer finishes the job.
// Slots are written by different goroutines; the atomic decrement orders
// every write before the finishing read.
func (js *jobState) deliver(s int, scores []float64, version string, err error) {
	js.outs[s] = slot{scores: scores, version: version, err: err}
	if js.remaining.Add(-1) == 0 {
		js.msg.w.finishJob(js)
	}
}

// finishJob ensembles the answers and queues the result for the sink.
func (w *Worker) finishJob(js *jobState) {
	for _, s := range js.outs {
		if errkind.KindOf(s.err) == errkind.Canceled {
			w.failJob(js, errkind.New(errkind.Canceled, ReasonShutdown, s.err), "shutdown")
			return
		}
	}
	for i, s := range js.outs {
		if errkind.KindOf(s.err) == errkind.InvalidInput {
			// A model refused this text on its own (the others in its batch
			// were scored): it will be refused again, so it goes to the
			// dead-letter topic now, with the server's words.
			m := &w.cfg.Models[js.route.Models[i]]
			w.m.InFlightJobs.Dec()
			w.deadLetter(js.msg, []deadJob{{raw: js.raw, err: fmt.Errorf("model %s: %w", m.Name, s.err), stage: "endpoint", tenant: js.job.Tenant}})
			return
		}
	}
	outs := make([]ensemble.Output, 0, len(js.outs))
	var failed []string
	for i, s := range js.outs {
		m := &w.cfg.Models[js.route.Models[i]]
		if s.err != nil {
			failed = append(failed, m.Name)
			continue
		}
		outs = append(outs, ensemble.Output{Model: m.Name, Version: s.version, Labels: m.Labels, Scores: s.scores})
	}
	c, err := w.combiners[js.route.PipelineIndex].Combine(outs, failed)
	if err != nil {
		for _, s := range js.outs {
			if s.err != nil {
				err = errkind.New(errkind.KindOf(err), errkind.ReasonOf(err), joinCause(err, s.err))
				break
			}
		}
		w.failJob(js, err, "ensemble")
		return
	}
	p := js.route.Pipeline
	js.result = sinks.Result{
		Tenant: js.job.Tenant, ResponseID: js.job.ResponseID,
		Pipeline: p.Name, PipelineVersion: p.Version,
		SentimentLabel: c.SentimentLabel, SentimentScore: c.SentimentScore,
		Tags: c.Tags, ModelVersions: c.ModelVersions, Partial: c.Partial,
		RunID: js.msg.msg.Attributes[job.AttrRunID], SourceMessageID: js.msg.msg.ID,
		ScoredAt: w.now().UTC(),
	}
	if err := w.sinkB.Add(w.workCtx, js); err != nil {
		w.failJob(js, errkind.New(errkind.Canceled, ReasonShutdown, err), "sink")
	}
}

type causeErr struct{ outer, cause error }

func (e *causeErr) Error() string {
	return e.outer.Error() + " (last model error: " + e.cause.Error() + ")"
}
func (e *causeErr) Unwrap() error { return e.outer }

// joinCause keeps the model's error visible in the dead-letter detail
// while err keeps the kind and reason.
func joinCause(err, cause error) error { return &causeErr{outer: err, cause: cause} }

func (w *Worker) failJob(js *jobState, err error, stage string) {
	w.m.InFlightJobs.Dec()
	js.msg.fail(deadJob{raw: js.raw, err: err, stage: stage, tenant: js.job.Tenant})
}

// writeRows is the sink batcher's send function.
func (w *Worker) writeRows(ctx context.Context, batch []*jobState) {
	rows := make([]sinks.Result, len(batch))
	for i, js := range batch {
		rows[i] = js.result
	}
	var rowErrs sinks.RowErrors
	start := time.Now()
	write := func(ctx context.Context) error {
		err := w.sink.Write(ctx, rows)
		if re, ok := sinks.AsRowErrors(err); ok {
			rowErrs = re
			return nil
		}
		return err
	}
	// A sink that is down is nobody's message's fault: hold the rows and
	// keep trying until it is back or the worker is abandoned. The held
	// rows fill the sink queue, the queue blocks the models, the models
	// block pulling: backpressure, not dead letters. Only a known
	// transient fault holds (see retry.Hold): an error nobody classified
	// may be caused by a row, and held forever it would stall every tenant
	// without a delivery attempt ever being counted, so it ends as a
	// failed delivery once the retry policy is spent.
	err := retry.Hold(ctx, w.cfg.Sink.Batch.Retry.Policy(), nil, write, func(err error, d time.Duration) {
		w.log.Warn().Err(err).Dur("backoff", d).Int("rows", len(rows)).Msg("sink write failed; retrying")
	}, func(err error, _ time.Duration) {
		w.sinkDown.Store(true)
		w.log.Error().Err(err).Int("rows", len(rows)).Msg("sink unavailable; holding rows and pausing intake until it recovers")
	})
	if w.sinkDown.Swap(false) && err == nil {
		w.log.Info().Msg("sink recovered")
	}
	w.m.SinkLatency.Observe(time.Since(start).Seconds())
	if errkind.KindOf(err) == errkind.InvalidInput {
		// The sink refused the batch for its data without saying which
		// row: halve it until the bad rows stand alone.
		if len(batch) > 1 {
			h := len(batch) / 2
			w.writeRows(ctx, batch[:h])
			w.writeRows(ctx, batch[h:])
			return
		}
		rowErrs, err = sinks.RowErrors{{Index: 0, Err: err}}, nil
	}
	if err != nil {
		kind, reason := errkind.Retryable, ReasonSinkWriteFailed
		if ctx.Err() != nil {
			kind, reason = errkind.Canceled, ReasonShutdown // abandoned at the drain deadline
		}
		w.m.SinkRows.WithLabelValues("failed").Add(float64(len(rows)))
		for _, js := range batch {
			w.failJob(js, errkind.New(kind, reason, err), "sink")
		}
		return
	}
	var bad map[int]error
	if len(rowErrs) > 0 {
		bad = make(map[int]error, len(rowErrs))
		for _, re := range rowErrs {
			bad[re.Index] = re.Err
		}
	}
	w.m.SinkRows.WithLabelValues("written").Add(float64(len(rows) - len(bad)))
	w.m.SinkRows.WithLabelValues("rejected").Add(float64(len(bad)))
	now := time.Now()
	for i, js := range batch {
		w.m.InFlightJobs.Dec()
		if e, ok := bad[i]; ok {
			w.deadLetter(js.msg, []deadJob{{raw: js.raw, err: errkind.New(errkind.Permanent, ReasonSinkRejected, e), stage: "sink", tenant: js.job.Tenant}})
			continue
		}
		w.tenants.get(js.job.Tenant).committed.Inc()
		w.m.JobLatency.Observe(now.Sub(js.msg.received).Seconds())
		js.msg.resolve(1)
	}
}

// tenantCounters keeps per-tenant job counters with bounded cardinality:
// configured tenants get their own series, every other tenant "other".
type tenantCounters struct {
	byName map[string]*tenantCounter
	other  *tenantCounter
}

type tenantCounter struct {
	label                    string // the tenant label every per-tenant metric uses
	committed, dead, retried prometheus.Counter
}

func newTenantCounters(cfg *config.Config, m *metrics.Metrics) *tenantCounters {
	mk := func(name string) *tenantCounter {
		return &tenantCounter{
			label:     name,
			committed: m.Jobs.WithLabelValues(name, metrics.OutcomeCommitted),
			dead:      m.Jobs.WithLabelValues(name, metrics.OutcomeDeadLettered),
			retried:   m.Jobs.WithLabelValues(name, metrics.OutcomeRetried),
		}
	}
	tc := &tenantCounters{byName: make(map[string]*tenantCounter), other: mk("other")}
	for _, t := range cfg.Tenants {
		if t.Name != router.Wildcard {
			tc.byName[t.Name] = mk(t.Name)
		}
	}
	return tc
}

func (tc *tenantCounters) get(tenant string) *tenantCounter {
	if c, ok := tc.byName[tenant]; ok {
		return c
	}
	return tc.other
}
