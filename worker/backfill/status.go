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
	// DeadLettered is -1: not checked (peek the dead-letter queue with
	// chorus dlq).
	DeadLettered int64 `json:"dead_lettered"`
	// Pending is published − in sink − dead-lettered (those not checked
	// count as 0).
	Pending int64 `json:"pending"`
}

// RunStatus builds a run's status from its checkpoint and the sink.
func RunStatus(ctx context.Context, cp *Checkpoint, sink RunCounter) (Status, error) {
	s := Status{RunID: cp.RunID, Published: cp.Counts.Published, Confirmed: cp.Confirmed, Total: cp.Total, Done: cp.Done, DeadLettered: -1}
	n, err := sink.CountRun(ctx, cp.RunID)
	if err != nil {
		return s, err
	}
	s.InSink = n
	s.Pending = max(0, s.Published-s.InSink-max(0, s.DeadLettered))
	return s, nil
}

// WriteStatus prints s as a small table, or as JSON.
func WriteStatus(w io.Writer, s Status, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	dl := "not checked"
	if s.DeadLettered >= 0 {
		dl = fmt.Sprint(s.DeadLettered)
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
