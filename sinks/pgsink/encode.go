package pgsink

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// The bounds of sentiment_score the table's CHECK enforces.
const (
	MinSentimentScore = -1.0
	MaxSentimentScore = 1.0
)

// knownLabel reports whether the table accepts label as sentiment_label:
// the ensemble's fixed labels, or "" when no sentiment model was routed.
func knownLabel(label string) bool {
	switch label {
	case "", "positive", "neutral", "negative":
		return true
	}
	return false
}

// row is one validated result, ready to send.
type row struct {
	idx          int // in the caller's batch
	r            *sinks.Result
	tags, models string // JSON
}

// prepare validates rows up front against what the table's constraints
// check (and what Postgres cannot store at all: NUL bytes, invalid UTF-8,
// non-finite JSON numbers), so that a bad row costs no round trip. It
// returns the good rows in batch order and the bad ones as row errors.
func prepare(rows []sinks.Result) ([]row, sinks.RowErrors) {
	good := make([]row, 0, len(rows))
	var bad sinks.RowErrors
	for i := range rows {
		rw, err := encode(i, &rows[i])
		if err != nil {
			bad = append(bad, sinks.RowError{Index: i, Err: errkind.New(errkind.InvalidInput, ReasonInvalidRow, fmt.Errorf("pgsink: %w", err))})
			continue
		}
		good = append(good, rw)
	}
	return good, bad
}

func encode(i int, r *sinks.Result) (row, error) {
	if err := validate(r); err != nil {
		return row{}, err
	}
	tags := r.Tags
	if tags == nil {
		tags = []sinks.Tag{}
	}
	tj, err := json.Marshal(tags)
	if err != nil {
		return row{}, fmt.Errorf("tags: %w", err)
	}
	mv := r.ModelVersions
	if mv == nil {
		mv = map[string]string{}
	}
	mj, err := json.Marshal(mv)
	if err != nil {
		return row{}, fmt.Errorf("model_versions: %w", err)
	}
	return row{idx: i, r: r, tags: string(tj), models: string(mj)}, nil
}

// validate checks what the table's CHECK constraints check, and that every
// string is storable text.
func validate(r *sinks.Result) error {
	switch {
	case r.Tenant == "":
		return fmt.Errorf("tenant is empty")
	case r.ResponseID == "":
		return fmt.Errorf("response_id is empty")
	case r.PipelineVersion == "":
		return fmt.Errorf("pipeline_version is empty")
	case !(r.SentimentScore >= MinSentimentScore && r.SentimentScore <= MaxSentimentScore): // false for NaN
		return fmt.Errorf("sentiment_score %v is outside [%v, %v]", r.SentimentScore, MinSentimentScore, MaxSentimentScore)
	case !knownLabel(r.SentimentLabel):
		return fmt.Errorf("sentiment_label %q is not positive, neutral, negative or empty", r.SentimentLabel)
	}
	for _, f := range []struct{ name, v string }{
		{"tenant", r.Tenant}, {"response_id", r.ResponseID}, {"pipeline", r.Pipeline},
		{"pipeline_version", r.PipelineVersion}, {"run_id", r.RunID}, {"source_message_id", r.SourceMessageID},
	} {
		if err := text(f.name, f.v); err != nil {
			return err
		}
	}
	for i, tg := range r.Tags {
		if math.IsNaN(tg.Score) || math.IsInf(tg.Score, 0) {
			return fmt.Errorf("tags[%d].score is %v", i, tg.Score)
		}
		if err := text(fmt.Sprintf("tags[%d].tag", i), tg.Tag); err != nil {
			return err
		}
		for j, m := range tg.Models {
			if err := text(fmt.Sprintf("tags[%d].models[%d]", i, j), m); err != nil {
				return err
			}
		}
	}
	for k, v := range r.ModelVersions {
		if err := text("model_versions key", k); err != nil {
			return err
		}
		if err := text(fmt.Sprintf("model_versions[%q]", k), v); err != nil {
			return err
		}
	}
	return nil
}

// text checks that Postgres can store s as text or in jsonb: valid UTF-8
// without NUL (json.Marshal would silently replace invalid bytes).
func text(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s contains a NUL byte", field)
	}
	return nil
}

// dedupe returns a copy of rows that keeps the last occurrence of each key (ON CONFLICT cannot touch a
// row twice in one statement) and sorts by key, so that concurrent batches
// lock overlapping rows in one order and cannot deadlock each other.
func dedupe(rows []row) []row {
	last := make(map[sinks.Key]int, len(rows))
	for i := range rows {
		last[rows[i].r.Key()] = i
	}
	out := make([]row, 0, len(last))
	for i := range rows {
		if last[rows[i].r.Key()] == i {
			out = append(out, rows[i])
		}
	}
	slices.SortFunc(out, func(a, b row) int {
		return cmp.Or(
			strings.Compare(a.r.Tenant, b.r.Tenant),
			strings.Compare(a.r.ResponseID, b.r.ResponseID),
			strings.Compare(a.r.PipelineVersion, b.r.PipelineVersion))
	})
	return out
}
