// Package metrics holds the worker's Prometheus collectors. They register on
// a registry the caller owns (no global state), so tests and the demo can
// read them back and several workers can live in one process.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Job outcomes (label "outcome" of chorus_jobs_total).
const (
	OutcomeCommitted    = "committed"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeRetried      = "retried"
)

// Settle operations (label "op" of chorus_settle_failures_total).
const (
	OpAck        = "ack"
	OpNack       = "nack"
	OpDeadLetter = "dead_letter"
)

// Metrics are the worker's collectors. Metric names are part of the
// operator contract (dashboards, alerts): change them only with care.
type Metrics struct {
	MessagesReceived prometheus.Counter
	MessagesAcked    prometheus.Counter
	MessagesNacked   prometheus.Counter
	DeliveryAttempts prometheus.Histogram
	Jobs             *prometheus.CounterVec // tenant, outcome
	DeadLetters      *prometheus.CounterVec // reason, stage
	InFlightMessages prometheus.Gauge
	InFlightJobs     prometheus.Gauge
	BatchSize        *prometheus.HistogramVec // model
	BatchFill        *prometheus.HistogramVec // model: size / max_items
	EndpointLatency  *prometheus.HistogramVec // model
	EndpointErrors   *prometheus.CounterVec   // model, reason
	EndpointItems    *prometheus.CounterVec   // model
	ModelsFailed     *prometheus.CounterVec   // model: jobs a model could not score
	SinkRows         *prometheus.CounterVec   // outcome: written, rejected, failed
	SinkLatency      prometheus.Histogram
	JobLatency       prometheus.Histogram // receive → committed

	// EndpointSeconds is endpoint time split between the tenants of each
	// batch by their share of its items: what each tenant costs in GPU
	// time, the figure chargeback and capacity planning need.
	EndpointSeconds *prometheus.CounterVec // model, tenant
	// EndpointUp is 1 while the model's circuit breaker is closed.
	EndpointUp *prometheus.GaugeVec // model
	// ModelMisconfigured is 1 while the model cannot be used until its
	// config or server changes, with the reason (incompatible,
	// unauthorized, not_found, not_implemented, redirect).
	ModelMisconfigured *prometheus.GaugeVec // model, reason
	// SettleFailures counts ack, nack and dead-letter calls that failed
	// after their retries (op: ack, nack, dead_letter).
	SettleFailures *prometheus.CounterVec // op
	// MessagesReleased counts messages cut off by shutdown and left for
	// the source's Close to release for redelivery (no nack).
	MessagesReleased prometheus.Counter
	// MessagesDeferred counts messages handed back to the broker with a
	// delay because a model they need is failing and their tenant already
	// has its fill of jobs waiting for it (README, "Isolation").
	MessagesDeferred *prometheus.CounterVec // model
	// ModelWaiting is the number of jobs queued for a model, by lane
	// (live, backfill), as of its latest batch.
	ModelWaiting *prometheus.GaugeVec // model, lane
	// MessageAge is publish → receive, where the source reports the
	// publish time; BacklogAge is the latest such age, how far behind the
	// broker's head this worker reads.
	MessageAge prometheus.Histogram
	BacklogAge prometheus.Gauge
	// LLMTokens is the prompt and completion tokens an LLM endpoint
	// (protocol openai) billed, split between the tenants of each batch by
	// their share of its items, as EndpointSeconds is: what each tenant's
	// zero-shot tags cost.
	LLMTokens *prometheus.CounterVec // model, tenant, kind (prompt, completion)
}

// Token kinds (label "kind" of chorus_llm_tokens_total).
const (
	TokensPrompt     = "prompt"
	TokensCompletion = "completion"
)

// New creates the collectors and registers them on reg (nil: not registered).
func New(reg prometheus.Registerer) *Metrics {
	latency := prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5ms … ~16s
	m := &Metrics{
		MessagesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_messages_received_total", Help: "Messages received from the source."}),
		MessagesAcked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_messages_acked_total", Help: "Messages acked after every job was committed or dead-lettered."}),
		MessagesNacked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_messages_nacked_total", Help: "Messages nacked for redelivery after a transient failure."}),
		DeliveryAttempts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_message_delivery_attempt", Help: "Delivery attempt of received messages, where the source reports it.",
			Buckets: []float64{1, 2, 3, 5, 10, 20}}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_jobs_total", Help: "Jobs by tenant and outcome (committed, dead_lettered, retried)."},
			[]string{"tenant", "outcome"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_dead_letters_total", Help: "Payloads dead-lettered, by reason and stage."},
			[]string{"reason", "stage"}),
		InFlightMessages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_inflight_messages", Help: "Messages received and not yet acked or nacked."}),
		InFlightJobs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_inflight_jobs", Help: "Jobs being scored or written."}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chorus_batch_size", Help: "Instances per endpoint batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11)}, []string{"model"}),
		BatchFill: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chorus_batch_fill_ratio", Help: "Batch size over the model's max batch items.",
			Buckets: prometheus.LinearBuckets(0.1, 0.1, 10)}, []string{"model"}),
		EndpointLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chorus_endpoint_request_duration_seconds", Help: "Endpoint request latency, retries excluded.",
			Buckets: latency}, []string{"model"}),
		EndpointErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_endpoint_errors_total", Help: "Endpoint request errors by model and reason."},
			[]string{"model", "reason"}),
		EndpointItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_endpoint_items_total", Help: "Instances scored by each model."}, []string{"model"}),
		ModelsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_model_failures_total", Help: "Jobs a model could not score after retries."}, []string{"model"}),
		SinkRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_sink_rows_total", Help: "Rows by outcome: written, rejected (bad row), failed (write error)."},
			[]string{"outcome"}),
		SinkLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_sink_write_duration_seconds", Help: "Sink write latency per batch.", Buckets: latency}),
		JobLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_job_latency_seconds", Help: "End-to-end job latency, receive to sink commit.", Buckets: latency}),
		EndpointSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_endpoint_seconds_total", Help: "Endpoint request time attributed to each tenant by its share of the batch's items."},
			[]string{"model", "tenant"}),
		EndpointUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_endpoint_up", Help: "1 while the model endpoint's circuit breaker is closed, 0 while open."},
			[]string{"model"}),
		ModelMisconfigured: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_model_misconfigured", Help: "1 while the model and its server disagree in a way no retry fixes (reason says how); its jobs wait or go partial."},
			[]string{"model", "reason"}),
		MessagesReleased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_messages_released_total", Help: "Messages cut off by shutdown and released for redelivery without a nack."}),
		MessagesDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_messages_deferred_total", Help: "Messages handed back to the broker with a delay because a model they need is failing and their tenant's queue for it is full."},
			[]string{"model"}),
		ModelWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_model_waiting", Help: "Jobs queued for a model by lane (live, backfill), as of its latest batch."},
			[]string{"model", "lane"}),
		SettleFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_settle_failures_total", Help: "Ack, nack and dead-letter calls that failed after their retries, by op."},
			[]string{"op"}),
		MessageAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_message_age_seconds", Help: "Time from publish to receive, where the source reports the publish time.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 12)}), // 10ms … ~12h
		BacklogAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_backlog_age_seconds", Help: "Publish age of the latest message received: how far behind the head of the queue the worker reads."}),
		LLMTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_llm_tokens_total", Help: "Tokens an LLM endpoint billed (kind: prompt, completion), attributed to each tenant by its share of the batch's items."},
			[]string{"model", "tenant", "kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.MessagesReceived, m.MessagesAcked, m.MessagesNacked, m.DeliveryAttempts,
			m.Jobs, m.DeadLetters, m.InFlightMessages, m.InFlightJobs, m.BatchSize, m.BatchFill,
			m.EndpointLatency, m.EndpointErrors, m.EndpointItems, m.ModelsFailed, m.SinkRows,
			m.SinkLatency, m.JobLatency, m.EndpointSeconds, m.EndpointUp, m.ModelMisconfigured, m.SettleFailures, m.MessagesReleased,
			m.MessagesDeferred, m.ModelWaiting, m.MessageAge, m.BacklogAge)
		reg.MustRegister(m.LLMTokens)
	}
	return m
}
