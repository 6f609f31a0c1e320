// Package job holds the job (message body) and result (tagged response)
// schemas of DESIGN.md, and the decoder that turns a message body into jobs.
package job

import (
	"encoding/json"
	"time"
)

// Job is one piece of feedback to score.
type Job struct {
	ResponseID string          `json:"response_id"`
	Tenant     string          `json:"tenant"`
	Text       string          `json:"text"`
	Score      *float64        `json:"score,omitempty"`
	SurveyID   string          `json:"survey_id,omitempty"`
	CreatedAt  *time.Time      `json:"created_at,omitempty"`
	Lang       string          `json:"lang,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

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

// Message attributes that carry routing information (DESIGN.md § Job).
const (
	AttrTenant   = "tenant"
	AttrRunID    = "run_id"
	AttrPipeline = "pipeline"
)
