// Package config is Chorus's one YAML configuration file: source, sink,
// models, pipelines, tenants and limits. Load parses it strictly (unknown
// fields are errors), applies defaults and environment overrides for secrets,
// and validates it with errors that name the field path and what was expected.
package config

import (
	"time"

	"github.com/chorusml/chorus/worker/retry"
)

// Config is the whole file.
type Config struct {
	Worker Worker `yaml:"worker"`
	Limits Limits `yaml:"limits"`
	Source Source `yaml:"source"`
	// BackfillSource, when set, is a second subscription or queue whose
	// messages are all backfill: served after live work, within the
	// minimum share worker.lanes.backfill_min_share. Same shape as Source.
	BackfillSource Source     `yaml:"backfill_source"`
	Sink           Sink       `yaml:"sink"`
	Models         []Model    `yaml:"models"`
	Pipelines      []Pipeline `yaml:"pipelines"`
	Tenants        []Tenant   `yaml:"tenants"`
	Log            Log        `yaml:"log"`
	Metrics        Metrics    `yaml:"metrics"`
}

// Worker bounds the worker's in-flight state and sets its retry policy.
type Worker struct {
	// MaxOutstandingMessages and MaxOutstandingBytes bound messages pulled
	// and not yet acked (source flow control). Defaults 1000 and 64 MiB.
	MaxOutstandingMessages int `yaml:"max_outstanding_messages"`
	MaxOutstandingBytes    int `yaml:"max_outstanding_bytes"`
	// Pullers is the number of concurrent Receive loops. Default 1.
	Pullers int `yaml:"pullers"`
	// ReceiveBatch is the most messages asked for per Receive. Default 100.
	ReceiveBatch int `yaml:"receive_batch"`
	// DrainTimeout bounds graceful shutdown. Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// MaxDeliveryAttempts: a message failing transiently on this delivery
	// attempt or later is dead-lettered instead of nacked again (for sources
	// whose broker reports attempts). Default 5; negative disables.
	MaxDeliveryAttempts int `yaml:"max_delivery_attempts"`
	// NackBackoff sets the redelivery delay after a transient failure,
	// growing with the delivery attempt. Deferred messages (see README,
	// "Isolation") come back after the same delay.
	NackBackoff Backoff `yaml:"nack_backoff"`
	// Lanes splits live feedback from backfill.
	Lanes Lanes `yaml:"lanes"`
}

// Lanes: within each model and at the sink, live work is served first and
// backfill takes what is left, with a floor so that it never starves.
type Lanes struct {
	// BackfillMinShare is the smallest share of each model's batches (and
	// the sink's writes) that backfill gets while live work waits, from 0
	// to 1; default 0.1.
	BackfillMinShare *float64 `yaml:"backfill_min_share"`
	// RunID says which lane a message with a run_id attribute (what
	// `chorus backfill` and `chorus dlq replay` publish) takes on the live
	// source: backfill (default) or live. Messages from backfill_source are
	// always backfill.
	RunID string `yaml:"run_id"`
}

// Lane values of Lanes.RunID.
const (
	LaneLive     = "live"
	LaneBackfill = "backfill"
)

// Backoff is an exponential backoff policy.
type Backoff struct {
	Initial time.Duration `yaml:"initial"` // default 1s (nack), 100ms (endpoint retry)
	Max     time.Duration `yaml:"max"`     // default 60s (nack), 2s (endpoint retry)
}

// Limits reject bad input before it costs endpoint time.
type Limits struct {
	MaxTextBytes      int `yaml:"max_text_bytes"`       // default 10000
	MaxJobsPerMessage int `yaml:"max_jobs_per_message"` // default 1000
	MaxMessageBytes   int `yaml:"max_message_bytes"`    // default 10 MiB
	// MaxKeyBytes bounds response_id, tenant and survey_id; default 256,
	// at most 1024 (Postgres and BigQuery keys).
	MaxKeyBytes int `yaml:"max_key_bytes"`
	// MaxAttributeBytes bounds the run_id, pipeline and tenant message
	// attributes; default 256, at most 1024.
	MaxAttributeBytes int `yaml:"max_attribute_bytes"`
}

// Source selects and configures the message source.
type Source struct {
	// Type is one of: memory, file, pubsub, sqs.
	Type   string       `yaml:"type"`
	File   FileSource   `yaml:"file"`
	PubSub PubSubSource `yaml:"pubsub"`
	SQS    SQSSource    `yaml:"sqs"`
}

// PubSubSource is a Google Pub/Sub subscription, read by streaming pull.
// Credentials come from Application Default Credentials; the client honours
// PUBSUB_EMULATOR_HOST for the emulator.
type PubSubSource struct {
	Project      string `yaml:"project"`
	Subscription string `yaml:"subscription"`
	// DeadLetterTopic receives payloads that failed permanently (bad input),
	// with reason attributes; the subscription's own dead-letter policy
	// handles repeated transient failures. Either a topic ID in Project or
	// a full "projects/P/topics/T" name.
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Streams is the number of streaming-pull streams; default 1.
	Streams int `yaml:"streams"`
	// MaxExtension bounds how long a message's ack deadline is extended
	// while it is in flight; default 60m.
	MaxExtension time.Duration `yaml:"max_extension"`
	// MaxExtensionPeriod bounds one extension; default 0 (the client's
	// adaptive choice from the 99th percentile of processing time).
	MaxExtensionPeriod time.Duration `yaml:"max_extension_period"`
	// Endpoint overrides the API endpoint (tests, private endpoints).
	Endpoint string `yaml:"endpoint"`
}

// SQSSource is an AWS SQS queue, read by long polling. Credentials and
// region come from the standard AWS chain unless set here.
type SQSSource struct {
	QueueURL string `yaml:"queue_url"`
	Region   string `yaml:"region"`
	// Endpoint overrides the service endpoint (moto, LocalStack, VPC).
	Endpoint string `yaml:"endpoint"`
	// DeadLetterQueueURL receives payloads that failed permanently, with
	// reason message attributes; the queue's redrive policy handles
	// repeated transient failures.
	DeadLetterQueueURL string `yaml:"dead_letter_queue_url"`
	// Pollers is the number of concurrent ReceiveMessage loops; default 4.
	Pollers int `yaml:"pollers"`
	// WaitTime is the long-poll wait (≤ 20s); default 20s.
	WaitTime time.Duration `yaml:"wait_time"`
	// VisibilityTimeout is asked for on receive and renewed while a message
	// is in flight; default 30s.
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`
	// MaxExtension bounds how long visibility is extended in all; default
	// 1h (SQS's own cap is 12h).
	MaxExtension time.Duration `yaml:"max_extension"`
}

// FileSource reads jobs from a JSONL file: one message per line.
type FileSource struct {
	Path string `yaml:"path"`
	// DeadLetterPath receives dead-lettered payloads with their reasons as
	// JSONL. Default: Path + ".deadletter.jsonl".
	DeadLetterPath string `yaml:"dead_letter_path"`
}

// Sink selects and configures the result sink.
type Sink struct {
	// Type is one of: file, postgres, bigquery.
	Type     string       `yaml:"type"`
	File     FileSink     `yaml:"file"`
	Postgres PostgresSink `yaml:"postgres"`
	BigQuery BigQuerySink `yaml:"bigquery"`
	Batch    SinkBatch    `yaml:"batch"`
}

// PostgresSink writes results to a Postgres table (see `chorus migrate`).
type PostgresSink struct {
	// DSNEnv names the environment variable holding the connection string
	// (TLS settings go in it, e.g. sslmode=verify-full); default
	// CHORUS_POSTGRES_DSN. The DSN never appears in the file or the logs.
	DSNEnv string `yaml:"dsn_env"`
	// Schema holds the results table; default "public".
	Schema string `yaml:"schema"`
	// Table is the results table; default "chorus_results".
	Table string `yaml:"table"`
	// MaxConns sizes the connection pool; default 4.
	MaxConns int `yaml:"max_conns"`
	// StatementTimeout bounds each statement; default 30s.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
}

// BigQuerySink appends results through the BigQuery Storage Write API.
// Credentials come from Application Default Credentials.
type BigQuerySink struct {
	Project string `yaml:"project"`
	Dataset string `yaml:"dataset"`
	// Table is the results table; default "chorus_results".
	Table string `yaml:"table"`
	// Location is where `chorus migrate` creates the dataset; default "US".
	Location string `yaml:"location"`
	// Endpoint and RESTEndpoint override the Storage Write (gRPC) and
	// BigQuery (REST) endpoints (tests, private endpoints).
	Endpoint     string `yaml:"endpoint"`
	RESTEndpoint string `yaml:"rest_endpoint"`
}

// FileSink writes results as JSONL, fsynced before the worker acks.
type FileSink struct {
	Path string `yaml:"path"`
}

// SinkBatch sets how rows are grouped into sink writes.
type SinkBatch struct {
	MaxRows     int           `yaml:"max_rows"`      // default 500
	Linger      time.Duration `yaml:"linger"`        // default 20ms
	MaxWaiting  int           `yaml:"max_waiting"`   // rows waiting for a write; default 4 × max_rows
	MaxInFlight int           `yaml:"max_in_flight"` // concurrent writes; default 2
	Retry       Retry         `yaml:"retry"`
}

// Model is one model endpoint.
type Model struct {
	Name       string `yaml:"name"`
	RemoteName string `yaml:"remote_name"` // default Name
	Version    string `yaml:"version"`     // pin a version, where the protocol can
	// Protocol is one of: open-inference, vertex, tei, openai, sagemaker.
	Protocol string `yaml:"protocol"`
	// URL is the server's base URL (vertex: the full ":predict" URL may be
	// given; sagemaker: optional, it overrides the regional runtime URL).
	// Userinfo in it is sent as basic auth and never printed.
	URL    string   `yaml:"url"`
	Labels []string `yaml:"labels"`
	// StrictLabels refuses a response scoring a label not in Labels; by
	// default such labels are dropped and logged once.
	StrictLabels bool `yaml:"strict_labels"`
	// MaxResponseBytes bounds one response body; default 8MiB, at most
	// 64MiB. A model holds at most max_in_flight such bodies at once.
	MaxResponseBytes int `yaml:"max_response_bytes"`
	// Protocol-specific settings; only the block of Protocol may be set.
	OpenInference OpenInference `yaml:"open_inference"`
	Vertex        Vertex        `yaml:"vertex"`
	TEI           TEI           `yaml:"tei"`
	OpenAI        OpenAI        `yaml:"openai"`
	SageMaker     SageMaker     `yaml:"sagemaker"`
	// Tenants lists the tenants this model serves; empty means all.
	Tenants     []string      `yaml:"tenants"`
	Batch       ModelBatch    `yaml:"batch"`
	MaxInFlight int           `yaml:"max_in_flight"` // batches at once; default 4
	Timeout     time.Duration `yaml:"timeout"`       // per request; default 10s
	Retry       Retry         `yaml:"retry"`
	Breaker     Breaker       `yaml:"breaker"`
	Auth        Auth          `yaml:"auth"`
	TLS         TLS           `yaml:"tls"`
}

// ModelBatch sets the model's micro-batching.
type ModelBatch struct {
	MaxItems int `yaml:"max_items"` // default 64
	MaxBytes int `yaml:"max_bytes"` // default 1 MiB
	// Linger is how long a partial batch may wait for more items while the
	// endpoint is busy. An idle endpoint gets a lone item at once. Default 5ms.
	Linger time.Duration `yaml:"linger"`
	// MaxWaiting bounds instances queued for this model; default 16 × max_items.
	MaxWaiting int `yaml:"max_waiting"`
}

// Retry bounds retries of one request.
type Retry struct {
	MaxAttempts int     `yaml:"max_attempts"` // default 4 (1 = no retry)
	Backoff     Backoff `yaml:"backoff"`
	// MaxElapsed bounds the time spent on one request including retries;
	// default 30s.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
	// MaxRetryAfter caps the wait a server may ask for with Retry-After
	// or google.rpc.RetryInfo; default 10s. A wait that would end past
	// max_elapsed ends the retries instead.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// Policy is r as the retry layer's policy: the one place a configured
// retry becomes one, so an endpoint's and the sink's cannot drift apart.
func (r Retry) Policy() retry.Policy {
	return retry.Policy{
		MaxAttempts: r.MaxAttempts, Initial: r.Backoff.Initial, Max: r.Backoff.Max,
		MaxElapsed: r.MaxElapsed, MaxRetryAfter: r.MaxRetryAfter,
	}
}

// Breaker opens after consecutive failures so a dead model fails fast.
type Breaker struct {
	// Failures in a row that open the breaker; default 5; negative disables.
	Failures int `yaml:"failures"`
	// Cooldown before a trial request; default 5s.
	Cooldown time.Duration `yaml:"cooldown"`
}

// Auth adds credentials to endpoint requests. Values come from the
// environment so that config files hold no secrets.
type Auth struct {
	// BearerTokenEnv names an env var holding a bearer token.
	BearerTokenEnv string `yaml:"bearer_token_env"`
	// HeadersEnv maps a header name to an env var holding its value.
	HeadersEnv map[string]string `yaml:"headers_env"`
	// Headers are sent as is (non-secret headers only).
	Headers map[string]string `yaml:"headers"`
	// Google uses Application Default Credentials (OAuth2 tokens,
	// refreshed before they expire). Default: on for a url whose host ends
	// in aiplatform.googleapis.com, off elsewhere.
	Google *bool `yaml:"google"`
}

// TLS configures HTTPS to an endpoint.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Pipeline turns model outputs into a result.
type Pipeline struct {
	Name      string    `yaml:"name"`
	Version   string    `yaml:"version"`
	Sentiment Sentiment `yaml:"sentiment"`
	Topics    Topics    `yaml:"topics"`
	// Quorum is the fewest models (of those routed for a job) that must
	// answer; below it the job is retried, then dead-lettered. Default: all.
	Quorum int `yaml:"quorum"`
}

// ModelRef is a model's place in a pipeline output.
type ModelRef struct {
	Model  string  `yaml:"model"`
	Weight float64 `yaml:"weight"` // default 1
	// Precedence: this model's score for a label replaces the others'
	// (a tenant's custom model overriding the shared one).
	Precedence  bool         `yaml:"precedence"`
	Calibration *Calibration `yaml:"calibration"`
}

// Calibration maps a raw score s to sigmoid(Scale·s + Bias) (Platt scaling).
// For sentiment, s is the model's polarity P(positive) − P(negative) in
// [−1, 1]; for a topic, s is the label's logit.
type Calibration struct {
	Scale float64 `yaml:"scale"`
	Bias  float64 `yaml:"bias"`
}

// Sentiment combines sentiment models into a label and score.
type Sentiment struct {
	Models        []ModelRef `yaml:"models"`
	PositiveLabel string     `yaml:"positive_label"` // default "positive"
	NegativeLabel string     `yaml:"negative_label"` // default "negative"
	// Combined P(positive) ≥ PositiveThreshold → "positive";
	// ≤ NegativeThreshold → "negative"; between → "neutral".
	// Defaults 0.6 and 0.4.
	PositiveThreshold float64 `yaml:"positive_threshold"`
	NegativeThreshold float64 `yaml:"negative_threshold"`
}

// Topics combines topic models into tags.
type Topics struct {
	Models []ModelRef `yaml:"models"`
	// Threshold is the default score a tag needs; default 0.5.
	Threshold       float64            `yaml:"threshold"`
	LabelThresholds map[string]float64 `yaml:"label_thresholds"`
	// TopK keeps at most this many tags, highest first; default 5.
	TopK int `yaml:"top_k"`
}

// Tenant routes a tenant's jobs. Name "*" matches any tenant not listed.
type Tenant struct {
	Name     string `yaml:"name"`
	Pipeline string `yaml:"pipeline"`
	// Weight is the tenant's share of each shared model's batches relative
	// to other tenants with work waiting, from 1 to 1000; default 1.
	// Tenants matched by "*" share the wildcard's weight each.
	Weight int `yaml:"weight"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // json, console, auto (console on a TTY); default auto
}

// Metrics configures the Prometheus / health HTTP listener.
type Metrics struct {
	Addr string `yaml:"addr"` // e.g. ":9090"; empty disables
}
