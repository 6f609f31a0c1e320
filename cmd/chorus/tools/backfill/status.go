package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// RunCounter counts the responses a run wrote to the sink.
type RunCounter interface {
	CountRun(ctx context.Context, runID string) (int64, error)
}

// Status is where a run's jobs are.
type Status struct {
	RunID string `json:"run_id"`
	// Published is the jobs confirmed published (the checkpoint's count).
	Published int64 `json:"published"`
	// Confirmed and Total are input records: the checkpoint position and
	// the input's size (-1 unknown).
	Confirmed int64 `json:"confirmed_records"`
	Total     int64 `json:"total_records"`
	Done      bool  `json:"done"`
	InSink    int64 `json:"in_sink"`
	// DeadLettered is the run's distinct jobs in the dead-letter queue;
	// nil (JSON null) when it was not read.
	DeadLettered *int64 `json:"dead_lettered"`
	// DeadLetterSource is the dead-letter subscription or queue read.
	DeadLetterSource string `json:"dead_letter_source,omitempty"`
	// DeadLetterTruncated reports a read of the dead-letter queue that
	// stopped at its maximum: DeadLettered is a lower bound.
	DeadLetterTruncated bool `json:"dead_letter_truncated,omitempty"`
	// Pending is published − in sink − dead-lettered (an unread
	// dead-letter queue counts as 0), never below 0.
	Pending int64 `json:"pending"`
}

// RunStatus builds a run's status from its checkpoint, the sink and, if
// dead is not nil, the dead-letter queue.
func RunStatus(ctx context.Context, cp *Checkpoint, sink RunCounter, dead DeadLetterCounter) (Status, error) {
	s := Status{RunID: cp.RunID, Published: cp.Counts.Published, Confirmed: cp.Confirmed, Total: cp.Total, Done: cp.Done}
	n, err := sink.CountRun(ctx, cp.RunID)
	if err != nil {
		return s, err
	}
	s.InSink = n
	var dl int64
	if dead != nil {
		c, err := dead.CountDeadLetters(ctx, cp.RunID)
		if err != nil {
			return s, err
		}
		dl = c.Jobs
		s.DeadLettered, s.DeadLetterSource, s.DeadLetterTruncated = &dl, c.Source, c.Truncated
	}
	s.Pending = max(0, s.Published-s.InSink-dl)
	return s, nil
}

// WriteStatus prints s as a small table, or as JSON.
func WriteStatus(w io.Writer, s Status, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	dl := "unknown (name the dead letters: --config, or the chorus dlq broker flags)"
	if s.DeadLettered != nil {
		dl = fmt.Sprint(*s.DeadLettered)
		if s.DeadLetterTruncated {
			dl = "at least " + dl + " (stopped at --dlq-max)"
		}
		dl += " in " + s.DeadLetterSource
	}
	total := "unknown"
	if s.Total >= 0 {
		total = fmt.Sprint(s.Total)
	}
	state := "in progress or interrupted"
	if s.Done {
		state = "done"
	}
	_, err := fmt.Fprintf(w, "run %s (%s)\n  %-14s %d of %s records\n  %-14s %d\n  %-14s %d\n  %-14s %s\n  %-14s %d\n",
		s.RunID, state, "read", s.Confirmed, total, "published", s.Published, "in sink", s.InSink, "dead-lettered", dl, "pending", s.Pending)
	return err
}
