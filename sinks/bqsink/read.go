package bqsink

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/bigquery"
	"github.com/chorusml/chorus/sinks"
	"google.golang.org/api/iterator"
)

// ReadAll returns every row of the table as a query sees it, one per key
// (CDC upserts applied), in no particular order. It reads the whole table:
// meant for tests, demos and small tables.
func ReadAll(ctx context.Context, opts Options) ([]sinks.Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := bigquery.NewClient(ctx, opts.Project, opts.ClientOptions...)
	if err != nil {
		return nil, classify("read: client", err)
	}
	defer client.Close()
	q := client.Query(fmt.Sprintf("SELECT * FROM `%s.%s.%s`", opts.Project, opts.Dataset, opts.Table))
	it, err := q.Read(ctx)
	if err != nil {
		return nil, classify("read "+tableName(opts), err)
	}
	var out []sinks.Result
	for {
		var r storedRow
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, classify("read "+tableName(opts), err)
		}
		out = append(out, r.result())
	}
}

// storedRow is a table row as the REST client loads it.
type storedRow struct {
	Tenant          string               `bigquery:"tenant"`
	ResponseID      string               `bigquery:"response_id"`
	Pipeline        bigquery.NullString  `bigquery:"pipeline"`
	PipelineVersion string               `bigquery:"pipeline_version"`
	SentimentLabel  bigquery.NullString  `bigquery:"sentiment_label"`
	SentimentScore  bigquery.NullFloat64 `bigquery:"sentiment_score"`
	Tags            []struct {
		Tag    bigquery.NullString  `bigquery:"tag"`
		Score  bigquery.NullFloat64 `bigquery:"score"`
		Models []string             `bigquery:"models"`
	} `bigquery:"tags"`
	ModelVersions []struct {
		Model   bigquery.NullString `bigquery:"model"`
		Version bigquery.NullString `bigquery:"version"`
	} `bigquery:"model_versions"`
	Partial         bigquery.NullBool      `bigquery:"partial"`
	RunID           bigquery.NullString    `bigquery:"run_id"`
	SourceMessageID bigquery.NullString    `bigquery:"source_message_id"`
	ScoredAt        bigquery.NullTimestamp `bigquery:"scored_at"`
}

func (s *storedRow) result() sinks.Result {
	r := sinks.Result{
		Tenant:          s.Tenant,
		ResponseID:      s.ResponseID,
		Pipeline:        s.Pipeline.StringVal,
		PipelineVersion: s.PipelineVersion,
		SentimentLabel:  s.SentimentLabel.StringVal,
		SentimentScore:  s.SentimentScore.Float64,
		Partial:         s.Partial.Bool,
		RunID:           s.RunID.StringVal,
		SourceMessageID: s.SourceMessageID.StringVal,
		ScoredAt:        s.ScoredAt.Timestamp.UTC(),
	}
	for _, t := range s.Tags {
		r.Tags = append(r.Tags, sinks.Tag{Tag: t.Tag.StringVal, Score: t.Score.Float64, Models: t.Models})
	}
	if len(s.ModelVersions) > 0 {
		r.ModelVersions = make(map[string]string, len(s.ModelVersions))
		for _, mv := range s.ModelVersions {
			r.ModelVersions[mv.Model.StringVal] = mv.Version.StringVal
		}
	}
	return r
}
