package config

import "time"

// Default values, as documented on the Config fields. Derived defaults
// (max_waiting, remote_name, dead_letter_path) follow the values they
// derive from.
const (
	defaultMaxOutstandingMessages = 1000
	defaultBackfillMinShare       = 0.1
	defaultMaxOutstandingBytes    = 64 << 20
	defaultPullers                = 1
	defaultReceiveBatch           = 100
	defaultDrainTimeout           = 30 * time.Second
	defaultMaxDeliveryAttempts    = 5
	defaultNackInitial            = time.Second
	defaultNackMax                = 60 * time.Second

	defaultMaxTextBytes      = 10000
	defaultMaxJobsPerMessage = 1000
	defaultMaxMessageBytes   = 10 << 20

	defaultDeadLetterSuffix = ".deadletter.jsonl"

	defaultSinkMaxRows     = 500
	defaultSinkLinger      = 20 * time.Millisecond
	sinkWaitingPerRow      = 4
	defaultSinkMaxInFlight = 2

	defaultBatchMaxItems   = 64
	defaultBatchMaxBytes   = 1 << 20
	defaultBatchLinger     = 5 * time.Millisecond
	batchWaitingPerItem    = 16
	defaultModelInFlight   = 4
	defaultModelTimeout    = 10 * time.Second
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 5 * time.Second

	defaultRetryAttempts   = 4
	defaultRetryInitial    = 100 * time.Millisecond
	defaultRetryMax        = 2 * time.Second
	defaultRetryMaxElapsed = 30 * time.Second
	defaultMaxRetryAfter   = 10 * time.Second
	defaultMaxKeyBytes     = 256
	defaultMaxResponse     = 8 << 20

	defaultWeight            = 1
	defaultPositiveLabel     = "positive"
	defaultNegativeLabel     = "negative"
	defaultPositiveThreshold = 0.6
	defaultNegativeThreshold = 0.4
	defaultTopicThreshold    = 0.5
	defaultTopK              = 5

	defaultLogLevel  = "info"
	defaultLogFormat = "auto"
)

// ApplyDefaults fills every zero field that has a default. As in the
// Pub/Sub client's settings, zero means "the default"; where a field can be
// disabled (max_delivery_attempts, breaker.failures) a negative value does
// that. It is idempotent, and Parse calls it; a Config built in code should
// call it before Validate.
func (c *Config) ApplyDefaults() {
	w := &c.Worker
	setDefault(&w.MaxOutstandingMessages, defaultMaxOutstandingMessages)
	setDefault(&w.MaxOutstandingBytes, defaultMaxOutstandingBytes)
	setDefault(&w.Pullers, defaultPullers)
	setDefault(&w.ReceiveBatch, defaultReceiveBatch)
	setDefault(&w.DrainTimeout, defaultDrainTimeout)
	setDefault(&w.MaxDeliveryAttempts, defaultMaxDeliveryAttempts)
	setDefault(&w.NackBackoff.Initial, defaultNackInitial)
	setDefault(&w.NackBackoff.Max, defaultNackMax)

	l := &c.Limits
	setDefault(&l.MaxTextBytes, defaultMaxTextBytes)
	setDefault(&l.MaxJobsPerMessage, defaultMaxJobsPerMessage)
	setDefault(&l.MaxMessageBytes, defaultMaxMessageBytes)
	setDefault(&l.MaxKeyBytes, defaultMaxKeyBytes)
	setDefault(&l.MaxAttributeBytes, defaultMaxKeyBytes)

	c.Source.applyDefaults()
	if c.BackfillSource.Type != "" {
		c.BackfillSource.applyDefaults()
	}
	if w.Lanes.BackfillMinShare == nil {
		share := defaultBackfillMinShare
		w.Lanes.BackfillMinShare = &share
	}
	setDefault(&w.Lanes.RunID, LaneBackfill)
	for i := range c.Tenants {
		setDefault(&c.Tenants[i].Weight, 1)
	}

	pg := &c.Sink.Postgres
	setDefault(&pg.DSNEnv, "CHORUS_POSTGRES_DSN")
	// schema, table, max_conns and statement_timeout stay zero: their
	// defaults are the Postgres driver's (pgsink.Options), applied where
	// the wiring opens it, so they are defined once.
	bq := &c.Sink.BigQuery
	setDefault(&bq.Table, "chorus_results")
	setDefault(&bq.Location, "US")

	sb := &c.Sink.Batch
	setDefault(&sb.MaxRows, defaultSinkMaxRows)
	setDefault(&sb.Linger, defaultSinkLinger)
	setDefault(&sb.MaxWaiting, sinkWaitingPerRow*sb.MaxRows)
	setDefault(&sb.MaxInFlight, defaultSinkMaxInFlight)
	retryDefaults(&sb.Retry)

	for i := range c.Models {
		m := &c.Models[i]
		setDefault(&m.RemoteName, m.Name)
		setDefault(&m.Batch.MaxItems, defaultBatchMaxItems)
		setDefault(&m.Batch.MaxBytes, defaultBatchMaxBytes)
		setDefault(&m.Batch.Linger, defaultBatchLinger)
		setDefault(&m.Batch.MaxWaiting, batchWaitingPerItem*m.Batch.MaxItems)
		setDefault(&m.MaxInFlight, defaultModelInFlight)
		setDefault(&m.Timeout, defaultModelTimeout)
		retryDefaults(&m.Retry)
		setDefault(&m.Breaker.Failures, defaultBreakerFailures)
		setDefault(&m.Breaker.Cooldown, defaultBreakerCooldown)
		setDefault(&m.MaxResponseBytes, defaultMaxResponse)
		switch m.Protocol {
		case "open-inference":
			m.OpenInference.applyDefaults(m)
		case "vertex":
			m.Vertex.applyDefaults(m)
		case "tei":
			m.TEI.applyDefaults(m)
		case "openai":
			m.OpenAI.applyDefaults(m)
		case "sagemaker":
			m.SageMaker.applyDefaults(m)
		}
	}

	// Quorum stays 0 ("all"): how many models a job gets depends on its
	// tenant, so "all" cannot be resolved to a number here.
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		s := &p.Sentiment
		refDefaults(s.Models)
		setDefault(&s.PositiveLabel, defaultPositiveLabel)
		setDefault(&s.NegativeLabel, defaultNegativeLabel)
		setDefault(&s.PositiveThreshold, defaultPositiveThreshold)
		setDefault(&s.NegativeThreshold, defaultNegativeThreshold)
		t := &p.Topics
		refDefaults(t.Models)
		setDefault(&t.Threshold, defaultTopicThreshold)
		setDefault(&t.TopK, defaultTopK)
	}

	setDefault(&c.Log.Level, defaultLogLevel)
	setDefault(&c.Log.Format, defaultLogFormat)
}

// retryDefaults serves both endpoint and sink retries: both are one request
// to a remote service, so they share the endpoint-retry backoff.
func retryDefaults(r *Retry) {
	setDefault(&r.MaxAttempts, defaultRetryAttempts)
	setDefault(&r.Backoff.Initial, defaultRetryInitial)
	setDefault(&r.Backoff.Max, defaultRetryMax)
	setDefault(&r.MaxElapsed, defaultRetryMaxElapsed)
	setDefault(&r.MaxRetryAfter, defaultMaxRetryAfter)
}

func refDefaults(refs []ModelRef) {
	for i := range refs {
		setDefault(&refs[i].Weight, defaultWeight)
	}
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (s *Source) applyDefaults() {
	if f := &s.File; f.Path != "" {
		setDefault(&f.DeadLetterPath, f.Path+defaultDeadLetterSuffix)
	}
	ps := &s.PubSub
	setDefault(&ps.Streams, 1)
	setDefault(&ps.MaxExtension, 60*time.Minute)
	sq := &s.SQS
	setDefault(&sq.Pollers, 4)
	setDefault(&sq.WaitTime, 20*time.Second)
	setDefault(&sq.VisibilityTimeout, 30*time.Second)
	setDefault(&sq.MaxExtension, time.Hour)
}
