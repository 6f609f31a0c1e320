package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	yaml := strings.Replace(baseYAML, "  type: memory\n", "  type: file\n  file: {path: in.jsonl}\n", 1)
	c := mustParse(t, yaml, nil)
	m := c.Models[0]
	sent, top := c.Pipelines[0].Sentiment, c.Pipelines[0].Topics
	tests := []struct {
		field     string
		got, want any
	}{
		{"worker.max_outstanding_messages", c.Worker.MaxOutstandingMessages, 1000},
		{"worker.max_outstanding_bytes", c.Worker.MaxOutstandingBytes, 64 << 20},
		{"worker.pullers", c.Worker.Pullers, 1},
		{"worker.receive_batch", c.Worker.ReceiveBatch, 100},
		{"worker.drain_timeout", c.Worker.DrainTimeout, 30 * time.Second},
		{"worker.max_delivery_attempts", c.Worker.MaxDeliveryAttempts, 5},
		{"worker.nack_backoff", c.Worker.NackBackoff, Backoff{Initial: time.Second, Max: time.Minute}},
		{"limits", c.Limits, Limits{MaxTextBytes: 10000, MaxJobsPerMessage: 1000, MaxMessageBytes: 10 << 20, MaxKeyBytes: 256, MaxAttributeBytes: 256}},
		{"source.file.dead_letter_path", c.Source.File.DeadLetterPath, "in.jsonl.deadletter.jsonl"},
		{"sink.batch", c.Sink.Batch, SinkBatch{
			MaxRows: 500, Linger: 20 * time.Millisecond, MaxWaiting: 2000, MaxInFlight: 2,
			Retry: Retry{MaxAttempts: 4, Backoff: Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}, MaxElapsed: 30 * time.Second, MaxRetryAfter: 10 * time.Second},
		}},
		{"models[0].remote_name", m.RemoteName, "sentiment-nb"},
		{"models[0].batch", m.Batch, ModelBatch{MaxItems: 64, MaxBytes: 1 << 20, Linger: 5 * time.Millisecond, MaxWaiting: 1024}},
		{"models[0].max_in_flight", m.MaxInFlight, 4},
		{"models[0].timeout", m.Timeout, 10 * time.Second},
		{"models[0].retry", m.Retry, Retry{MaxAttempts: 4, Backoff: Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}, MaxElapsed: 30 * time.Second, MaxRetryAfter: 10 * time.Second}},
		{"models[0].breaker", m.Breaker, Breaker{Failures: 5, Cooldown: 5 * time.Second}},
		{"sentiment.models[0].weight", sent.Models[0].Weight, 1.0},
		{"sentiment labels", [2]string{sent.PositiveLabel, sent.NegativeLabel}, [2]string{"positive", "negative"}},
		{"sentiment thresholds", [2]float64{sent.PositiveThreshold, sent.NegativeThreshold}, [2]float64{0.6, 0.4}},
		{"topics.models[1].weight", top.Models[1].Weight, 1.0},
		{"topics.threshold", top.Threshold, 0.5},
		{"topics.top_k", top.TopK, 5},
		{"quorum stays 0 (all)", c.Pipelines[0].Quorum, 0},
		{"log", c.Log, Log{Level: "info", Format: "auto"}},
		{"metrics.addr stays empty (disabled)", c.Metrics.Addr, ""},
	}
	for _, tt := range tests {
		if !equal(tt.got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.field, tt.got, tt.want)
		}
	}
}

func TestDefaultsKeepSetValues(t *testing.T) {
	yaml := strings.Replace(baseYAML, "    labels: [negative, positive]\n", `    labels: [negative, positive]
    remote_name: nb-v2
    batch: {max_items: 10}
    breaker: {failures: -1}
`, 1)
	yaml = strings.Replace(yaml, "source:\n", "worker: {max_delivery_attempts: -1}\nsource:\n", 1)
	c := mustParse(t, yaml, nil)
	m := c.Models[0]
	if m.RemoteName != "nb-v2" || m.Batch.MaxItems != 10 || m.Breaker.Failures != -1 || c.Worker.MaxDeliveryAttempts != -1 {
		t.Errorf("set values changed: %+v, max_delivery_attempts %d", m, c.Worker.MaxDeliveryAttempts)
	}
	// max_waiting follows the max_items that was set, not the default.
	if m.Batch.MaxWaiting != 160 {
		t.Errorf("batch.max_waiting: got %d, want 16 × 10", m.Batch.MaxWaiting)
	}
}

func TestApplyDefaultsIdempotent(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	before := c.Redacted()
	c.ApplyDefaults()
	if after := c.Redacted(); after != before {
		t.Errorf("second ApplyDefaults changed the config:\n%s\nvs\n%s", before, after)
	}
}
