package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		path   string
		msg    string
	}{
		// Required fields and enums.
		{"source type missing", func(c *Config) { c.Source.Type = "" },
			"source.type", "required, one of memory, file, pubsub, sqs"},
		{"source type unknown", func(c *Config) { c.Source.Type = "kafka" },
			"source.type", `got "kafka", expected one of memory, file, pubsub, sqs`},
		{"file source needs path", func(c *Config) { c.Source.Type = "file" },
			"source.file.path", "required"},
		{"sink type unknown", func(c *Config) { c.Sink.Type = "s3" },
			"sink.type", `got "s3", expected one of file, postgres, bigquery`},
		{"file sink needs path", func(c *Config) { c.Sink.File.Path = "" },
			"sink.file.path", "required"},
		{"protocol unknown", func(c *Config) { c.Models[1].Protocol = "grpc" },
			"models[1].protocol", `got "grpc", expected one of open-inference, vertex, tei`},
		{"backfill source of another broker", func(c *Config) {
			c.BackfillSource = Source{Type: "sqs", SQS: SQSSource{QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/b", DeadLetterQueueURL: "https://sqs.eu-west-1.amazonaws.com/1/d", Pollers: 1, WaitTime: time.Second, VisibilityTimeout: time.Second, MaxExtension: time.Second}}
		}, "backfill_source.type", `"sqs" differs from source.type "memory"`},
		{"backfill source fields named by their path", func(c *Config) { c.BackfillSource = Source{Type: "file"} },
			"backfill_source.file.path", "required"},
		{"backfill share over one", func(c *Config) { s := 1.5; c.Worker.Lanes.BackfillMinShare = &s },
			"worker.lanes.backfill_min_share", "1.5 is not a share between 0 and 1"},
		{"run_id lane", func(c *Config) { c.Worker.Lanes.RunID = "bulk" },
			"worker.lanes.run_id", `got "bulk", expected one of backfill, live`},
		{"tenant weight bound", func(c *Config) { c.Tenants[0].Weight = 5000 },
			"tenants[0].weight", "over the limit of 1000"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" },
			"log.level", `got "verbose", expected one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "xml" },
			"log.format", `got "xml"`},
		{"metrics addr", func(c *Config) { c.Metrics.Addr = "9090" },
			"metrics.addr", `"9090" is not a host:port`},

		// Models.
		{"model name missing", func(c *Config) { c.Models[0].Name = "" },
			"models[0].name", "required"},
		{"url userinfo is never printed", func(c *Config) { c.Models[0].URL = "ftp://svc:pa55w0rd@models/" },
			"models[0].url", `"ftp://models/" is not an absolute http(s) URL`},
		{"max_response_bytes bound", func(c *Config) { c.Models[0].MaxResponseBytes = 1 << 30 },
			"models[0].max_response_bytes", "outside 1..67108864"},
		{"version bound", func(c *Config) { c.Models[0].Version = strings.Repeat("v", 129) },
			"models[0].version", "at most 128"},
		{"version control characters", func(c *Config) { c.Models[0].Version = "3\x00" },
			"models[0].version", "control characters"},
		{"label bound", func(c *Config) { c.Models[1].Labels = []string{"billing", strings.Repeat("x", 200)} },
			"models[1].labels[1]", "at most 128 bytes"},
		{"absurd max_waiting", func(c *Config) { c.Models[0].Batch.MaxWaiting = 1_000_000_000 },
			"models[0].batch.max_waiting", "over the limit of 1000000"},
		{"absurd outstanding messages", func(c *Config) { c.Worker.MaxOutstandingMessages = 2_000_000_000 },
			"worker.max_outstanding_messages", "over the limit of 1000000"},
		{"absurd sink waiting", func(c *Config) { c.Sink.Batch.MaxWaiting = 1 << 40 },
			"sink.batch.max_waiting", "over the limit"},
		{"protocol block of another protocol", func(c *Config) { c.Models[2].Vertex.SignatureName = "serving_default" },
			"models[2].vertex", `protocol is "tei"`},
		{"model name duplicate", func(c *Config) { c.Models[2].Name = "topics" },
			"models[2].name", `duplicate model name "topics" (also models[1])`},
		{"url not absolute", func(c *Config) { c.Models[0].URL = "localhost:8500" },
			"models[0].url", `"localhost:8500" is not an absolute http(s) URL`},
		{"url not http", func(c *Config) { c.Models[0].URL = "ftp://x" },
			"models[0].url", "not an absolute http(s) URL"},
		{"url missing", func(c *Config) { c.Models[0].URL = "" },
			"models[0].url", "required"},
		{"tls over http", func(c *Config) { c.Models[0].TLS.CAFile = "ca.pem" },
			"models[0].tls", "not https"},
		{"tls cert without key", func(c *Config) {
			c.Models[0].URL = "https://x"
			c.Models[0].TLS.CertFile = "c.pem"
		}, "models[0].tls", "cert_file and key_file must be set together"},
		{"labels missing", func(c *Config) { c.Models[1].Labels = nil },
			"models[1].labels", "at least one label"},
		{"label empty", func(c *Config) { c.Models[1].Labels = []string{"pricing", " "} },
			"models[1].labels[1]", "empty label"},
		{"label duplicate", func(c *Config) { c.Models[1].Labels = []string{"pricing", "billing", "pricing"} },
			"models[1].labels[2]", `duplicate label "pricing" (also [0])`},
		{"model tenant unknown", func(c *Config) { c.Models[2].Tenants = []string{"acme", "initech"} },
			"models[2].tenants[1]", `"initech" is not a configured tenant and there is no "*" tenant (have: acme, globex)`},
		{"batch max_items", func(c *Config) { c.Models[0].Batch.MaxItems = -1 },
			"models[0].batch.max_items", "-1 is not positive"},
		{"batch max_waiting below max_items", func(c *Config) { c.Models[0].Batch.MaxWaiting = 10 },
			"models[0].batch.max_waiting", "10 is less than max_items (64)"},
		{"batch max_bytes", func(c *Config) { c.Models[0].Batch.MaxBytes = -5 },
			"models[0].batch.max_bytes", "not positive"},
		{"batch linger negative", func(c *Config) { c.Models[0].Batch.Linger = -time.Millisecond },
			"models[0].batch.linger", "-1ms is negative"},
		{"max_in_flight", func(c *Config) { c.Models[0].MaxInFlight = -1 },
			"models[0].max_in_flight", "not positive"},
		{"timeout", func(c *Config) { c.Models[0].Timeout = -time.Second },
			"models[0].timeout", "-1s is not positive"},
		{"retry attempts", func(c *Config) { c.Models[0].Retry.MaxAttempts = -1 },
			"models[0].retry.max_attempts", "not positive"},
		{"retry backoff max below initial", func(c *Config) { c.Models[0].Retry.Backoff.Max = time.Millisecond },
			"models[0].retry.backoff.max", "1ms is less than initial (100ms)"},
		{"retry max_elapsed", func(c *Config) { c.Models[0].Retry.MaxElapsed = -1 },
			"models[0].retry.max_elapsed", "not positive"},
		{"breaker cooldown", func(c *Config) { c.Models[0].Breaker.Cooldown = -1 },
			"models[0].breaker.cooldown", "not positive"},
		{"bearer env not a name", func(c *Config) { c.Models[0].Auth.BearerTokenEnv = "eyJhbGci.secret" },
			"models[0].auth.bearer_token_env", "must name an environment variable"},
		{"header name invalid", func(c *Config) { c.Models[0].Auth.Headers = map[string]string{"X Bad": "v"} },
			"models[0].auth.headers.X Bad", "not a valid HTTP header name"},
		{"header set twice", func(c *Config) {
			c.Models[0].Auth.BearerTokenEnv = "TOKEN"
			c.Models[0].Auth.Headers = map[string]string{"authorization": "x"}
		}, "models[0].auth.headers.authorization", `header "authorization" is also set by models[0].auth.bearer_token_env`},

		// Pipelines.
		{"pipeline name duplicate", func(c *Config) { c.Pipelines = append(c.Pipelines, c.Pipelines[0]) },
			"pipelines[1].name", `duplicate pipeline name "default" (also pipelines[0])`},
		{"pipeline version missing", func(c *Config) { c.Pipelines[0].Version = "" },
			"pipelines[0].version", "required"},
		{"pipeline without models", func(c *Config) {
			c.Pipelines[0].Sentiment.Models = nil
			c.Pipelines[0].Topics.Models = nil
		}, "pipelines[0]", "no models"},
		{"model reference unknown", func(c *Config) { c.Pipelines[0].Topics.Models[1].Model = "acme-topic" },
			"pipelines[0].topics.models[1].model", `"acme-topic" is not a configured model (have: sentiment-nb, topics, acme-topics)`},
		{"model reference missing", func(c *Config) { c.Pipelines[0].Sentiment.Models[0].Model = "" },
			"pipelines[0].sentiment.models[0].model", "required"},
		{"model listed twice", func(c *Config) {
			c.Pipelines[0].Topics.Models = append(c.Pipelines[0].Topics.Models, ModelRef{Model: "topics", Weight: 1})
		}, "pipelines[0].topics.models[2].model", `"topics" is listed twice (also [0])`},
		{"weight negative", func(c *Config) { c.Pipelines[0].Topics.Models[0].Weight = -0.5 },
			"pipelines[0].topics.models[0].weight", "-0.5 is not a positive number"},
		{"weight NaN", func(c *Config) { c.Pipelines[0].Topics.Models[0].Weight = math.NaN() },
			"pipelines[0].topics.models[0].weight", "not a positive number"},
		{"calibration infinite", func(c *Config) {
			c.Pipelines[0].Sentiment.Models[0].Calibration = &Calibration{Scale: math.Inf(1)}
		}, "pipelines[0].sentiment.models[0].calibration.scale", "not a finite number"},
		{"sentiment model lacks label", func(c *Config) { c.Pipelines[0].Sentiment.Models[0].Model = "topics" },
			"pipelines[0].sentiment.models[0].model", `model "topics" has no label "positive" (has: pricing, billing)`},
		{"sentiment custom label missing", func(c *Config) { c.Pipelines[0].Sentiment.PositiveLabel = "pos" },
			"pipelines[0].sentiment.models[0].model", `has no label "pos"`},
		{"sentiment labels equal", func(c *Config) { c.Pipelines[0].Sentiment.NegativeLabel = "positive" },
			"pipelines[0].sentiment.negative_label", `"positive" is also the positive_label`},
		{"positive threshold above 1", func(c *Config) { c.Pipelines[0].Sentiment.PositiveThreshold = 1.5 },
			"pipelines[0].sentiment.positive_threshold", "1.5 is not in [0, 1]"},
		{"negative threshold below 0", func(c *Config) { c.Pipelines[0].Sentiment.NegativeThreshold = -0.1 },
			"pipelines[0].sentiment.negative_threshold", "-0.1 is not in [0, 1]"},
		{"negative above positive", func(c *Config) { c.Pipelines[0].Sentiment.NegativeThreshold = 0.7 },
			"pipelines[0].sentiment.negative_threshold", "0.7 is above positive_threshold (0.6)"},
		{"topic threshold", func(c *Config) { c.Pipelines[0].Topics.Threshold = 2 },
			"pipelines[0].topics.threshold", "2 is not in [0, 1]"},
		{"label threshold range", func(c *Config) { c.Pipelines[0].Topics.LabelThresholds = map[string]float64{"billing": 1.2} },
			"pipelines[0].topics.label_thresholds.billing", "1.2 is not in [0, 1]"},
		{"label threshold below 0", func(c *Config) { c.Pipelines[0].Topics.LabelThresholds = map[string]float64{"billing": -0.1} },
			"pipelines[0].topics.label_thresholds.billing", "-0.1 is not in [0, 1]"},
		{"label threshold unknown label", func(c *Config) { c.Pipelines[0].Topics.LabelThresholds = map[string]float64{"biling": 0.5} },
			"pipelines[0].topics.label_thresholds.biling", `no topic model in this pipeline has label "biling"`},
		{"top_k", func(c *Config) { c.Pipelines[0].Topics.TopK = -1 },
			"pipelines[0].topics.top_k", "not positive"},
		{"quorum above models", func(c *Config) { c.Pipelines[0].Quorum = 4 },
			"pipelines[0].quorum", "4 is more than the 3 models in the pipeline"},
		{"quorum negative", func(c *Config) { c.Pipelines[0].Quorum = -1 },
			"pipelines[0].quorum", "-1 is negative"},
		{"no pipelines", func(c *Config) {
			c.Pipelines = nil
			c.Tenants = nil
		}, "pipelines", "at least one pipeline"},

		// Tenants.
		{"no tenants", func(c *Config) { c.Tenants = nil }, "tenants", "at least one tenant"},
		{"tenant name missing", func(c *Config) { c.Tenants[1].Name = "" },
			"tenants[1].name", "required"},
		{"tenant duplicate", func(c *Config) { c.Tenants[1].Name = "acme" },
			"tenants[1].name", `duplicate tenant name "acme" (also tenants[0])`},
		{"two wildcard tenants", func(c *Config) {
			c.Tenants = append(c.Tenants, Tenant{Name: "*", Pipeline: "default"}, Tenant{Name: "*", Pipeline: "default"})
		}, "tenants[3].name", `only one "*" tenant is allowed (also tenants[2])`},
		{"tenant pipeline unknown", func(c *Config) { c.Tenants[0].Pipeline = "defualt" },
			"tenants[0].pipeline", `"defualt" is not a configured pipeline (have: default)`},
		{"tenant pipeline missing", func(c *Config) { c.Tenants[0].Pipeline = "" },
			"tenants[0].pipeline", "required"},

		// Worker, limits, sink batching.
		{"outstanding messages", func(c *Config) { c.Worker.MaxOutstandingMessages = -1 },
			"worker.max_outstanding_messages", "not positive"},
		{"outstanding bytes", func(c *Config) { c.Worker.MaxOutstandingBytes = -1 },
			"worker.max_outstanding_bytes", "not positive"},
		{"pullers", func(c *Config) { c.Worker.Pullers = -2 }, "worker.pullers", "-2 is not positive"},
		{"receive batch", func(c *Config) { c.Worker.ReceiveBatch = -1 }, "worker.receive_batch", "not positive"},
		{"drain timeout", func(c *Config) { c.Worker.DrainTimeout = -1 }, "worker.drain_timeout", "not positive"},
		{"nack backoff", func(c *Config) { c.Worker.NackBackoff.Initial = -1 },
			"worker.nack_backoff.initial", "not positive"},
		{"max text bytes", func(c *Config) { c.Limits.MaxTextBytes = -1 }, "limits.max_text_bytes", "not positive"},
		{"max jobs", func(c *Config) { c.Limits.MaxJobsPerMessage = -1 }, "limits.max_jobs_per_message", "not positive"},
		{"max message bytes", func(c *Config) { c.Limits.MaxMessageBytes = -1 }, "limits.max_message_bytes", "not positive"},
		{"sink max rows", func(c *Config) { c.Sink.Batch.MaxRows = -1 }, "sink.batch.max_rows", "not positive"},
		{"sink max waiting", func(c *Config) { c.Sink.Batch.MaxWaiting = 100 },
			"sink.batch.max_waiting", "100 is less than max_rows (500)"},
		{"sink linger", func(c *Config) { c.Sink.Batch.Linger = -1 }, "sink.batch.linger", "negative"},
		{"sink in flight", func(c *Config) { c.Sink.Batch.MaxInFlight = -1 }, "sink.batch.max_in_flight", "not positive"},
		{"sink retry", func(c *Config) { c.Sink.Batch.Retry.MaxAttempts = -1 }, "sink.batch.retry.max_attempts", "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, baseYAML, nil)
			tt.mutate(c)
			wantProblem(t, c.Validate(), tt.path, tt.msg)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"base", func(*Config) {}},
		// Their sub-configs arrive later; the names are valid today.
		{"pubsub source", func(c *Config) {
			c.Source.Type = "pubsub"
			c.Source.PubSub.Project, c.Source.PubSub.Subscription, c.Source.PubSub.DeadLetterTopic = "p", "s", "dlq"
		}},
		{"sqs source", func(c *Config) {
			c.Source.Type = "sqs"
			c.Source.SQS.QueueURL = "https://sqs.eu-west-1.amazonaws.com/123/jobs"
			c.Source.SQS.DeadLetterQueueURL = "https://sqs.eu-west-1.amazonaws.com/123/jobs-dlq"
		}},
		{"postgres sink", func(c *Config) { c.Sink.Type = "postgres" }},
		{"bigquery sink", func(c *Config) {
			c.Sink.Type = "bigquery"
			c.Sink.BigQuery.Project, c.Sink.BigQuery.Dataset = "p", "feedback"
		}},
		{"wildcard tenant covers model tenants", func(c *Config) {
			c.Models[2].Tenants = []string{"acme", "initech"}
			c.Tenants = append(c.Tenants, Tenant{Name: "*", Pipeline: "default"})
		}},
		{"quorum equals models", func(c *Config) { c.Pipelines[0].Quorum = 3 }},
		{"model in both outputs counts once", func(c *Config) {
			c.Models[0].Labels = append(c.Models[0].Labels, "billing")
			c.Pipelines[0].Topics.Models = append(c.Pipelines[0].Topics.Models, ModelRef{Model: "sentiment-nb", Weight: 1})
			c.Pipelines[0].Quorum = 3
		}},
		{"thresholds at bounds", func(c *Config) {
			c.Pipelines[0].Sentiment.PositiveThreshold = 1
			c.Pipelines[0].Sentiment.NegativeThreshold = 1
		}},
		{"breaker and delivery limits disabled", func(c *Config) {
			c.Models[0].Breaker.Failures = -1
			c.Worker.MaxDeliveryAttempts = -1
		}},
		{"label threshold of a custom model", func(c *Config) {
			c.Pipelines[0].Topics.LabelThresholds = map[string]float64{"mobile-app": 0.8, "pricing": 0}
		}},
		{"https with tls", func(c *Config) {
			c.Models[0].URL = "https://models.example.com"
			c.Models[0].TLS = TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}
		}},
		// Validate does not read the environment: Parse does.
		{"auth env names only", func(c *Config) {
			c.Models[0].Auth = Auth{BearerTokenEnv: "UNSET_TOKEN", HeadersEnv: map[string]string{"X-Key": "UNSET_KEY"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, baseYAML, nil)
			tt.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	c.Source.Type = "kafka"
	c.Models[0].URL = "localhost"
	c.Tenants[0].Pipeline = "nope"
	es := asErrors(c.Validate())
	if len(es) != 3 {
		t.Fatalf("got %d problems, want 3:\n%v", len(es), es)
	}
}

func TestParseChecksAuthEnv(t *testing.T) {
	yaml := strings.Replace(baseYAML, "    labels: [negative, positive]\n", `    labels: [negative, positive]
    auth:
      bearer_token_env: NB_TOKEN
      headers_env:
        X-Api-Key: NB_KEY
`, 1)

	_, err := Parse([]byte(yaml), env(map[string]string{"NB_KEY": "s3cret-key"}))
	wantProblem(t, err, "models[0].auth.bearer_token_env", "environment variable NB_TOKEN is unset or empty")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks a secret: %v", err)
	}
	if got := len(asErrors(err)); got != 1 {
		t.Errorf("got %d problems, want 1: %v", got, err)
	}

	_, err = Parse([]byte(yaml), env(map[string]string{"NB_TOKEN": "t"}))
	wantProblem(t, err, "models[0].auth.headers_env.X-Api-Key", "environment variable NB_KEY is unset or empty")

	mustParse(t, yaml, env(map[string]string{"NB_TOKEN": "t", "NB_KEY": "k"}))
}

// TestErrorGolden pins the exact text an operator sees, line numbers
// included, so that changes to it are deliberate.
func TestErrorGolden(t *testing.T) {
	const yaml = `source:
  type: kafka
sink:
  type: file
models:
  - name: sentiment-nb
    protocol: open-inference
    url: localhost:8500
    labels: [negative, positive]
pipelines:
  - name: default
    sentiment:
      models:
        - model: sentiment-nb
          weight: -1
    topics:
      models:
        - model: topics
tenants:
  - name: acme
    pipeline: default
  - name: "*"
    pipeline: default
  - name: "*"
    pipeline: other
`
	const want = `load config chorus.yaml: 8 problems:
  source.type: got "kafka", expected one of memory, file, pubsub, sqs (line 2)
  sink.file.path: required (line 3)
  models[0].url: "localhost:8500" is not an absolute http(s) URL (line 8)
  pipelines[0].version: required (line 11)
  pipelines[0].sentiment.models[0].weight: -1 is not a positive number (line 15)
  pipelines[0].topics.models[0].model: "topics" is not a configured model (have: sentiment-nb) (line 18)
  tenants[2].name: only one "*" tenant is allowed (also tenants[1]) (line 24)
  tenants[2].pipeline: "other" is not a configured pipeline (have: default) (line 25)`
	path := t.TempDir() + "/chorus.yaml"
	writeFile(t, path, yaml)
	_, err := Load(path, nil)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	got := strings.Replace(err.Error(), path, "chorus.yaml", 1)
	if got != want {
		t.Errorf("error text changed:\ngot:\n%s\nwant:\n%s", got, want)
	}
}
