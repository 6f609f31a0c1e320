// Package job holds the job schema (a message body's feedback items) and
// the decoder that turns a message body into jobs. The result row a sink
// writes is sinks.Result.
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

// Message attributes that carry routing information: tenant, the tenant of
// the message's jobs (a job naming none takes it, one naming another is
// rejected); run_id, the backfill run the message belongs to; pipeline,
// the pipeline to use instead of the tenant's.
const (
	AttrTenant   = "tenant"
	AttrRunID    = "run_id"
	AttrPipeline = "pipeline"
)
