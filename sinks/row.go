package sinks

import "time"

// Tag is one topic tag on a result.
type Tag struct {
	Tag   string  `json:"tag"`
	Score float64 `json:"score"`
	// Models lists the models whose own score cleared the tag's threshold.
	Models []string `json:"models"`
}

// Result is one tagged response: one row per (tenant, response_id,
// pipeline_version). Writing the same key again replaces the row.
type Result struct {
	Tenant          string            `json:"tenant"`
	ResponseID      string            `json:"response_id"`
	Pipeline        string            `json:"pipeline"`
	PipelineVersion string            `json:"pipeline_version"`
	SentimentLabel  string            `json:"sentiment_label"`
	SentimentScore  float64           `json:"sentiment_score"`
	Tags            []Tag             `json:"tags"`
	ModelVersions   map[string]string `json:"model_versions"`
	Partial         bool              `json:"partial"`
	RunID           string            `json:"run_id,omitempty"`
	SourceMessageID string            `json:"source_message_id"`
	ScoredAt        time.Time         `json:"scored_at"`
}

// Key identifies a result row for idempotent writes.
type Key struct {
	Tenant, ResponseID, PipelineVersion string
}

// Key returns the idempotency key of r.
func (r *Result) Key() Key {
	return Key{Tenant: r.Tenant, ResponseID: r.ResponseID, PipelineVersion: r.PipelineVersion}
}

// ResponseKey identifies a response, whatever pipeline versions scored it:
// what a driver's read of its results table is asked about.
type ResponseKey struct {
	Tenant, ResponseID string
}
