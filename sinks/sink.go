// Package sinks defines the driver interface every result sink implements
// (Postgres, BigQuery, JSONL file). Drivers live in provider-named
// subpackages; sinktest holds the conformance suite they all pass.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/chorusml/chorus/worker/errkind"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("sink closed")

// Sink is a result sink driver. Methods are safe for concurrent use.
type Sink interface {
	// Write commits rows durably before it returns nil; the worker acks
	// source messages only after that. Writes are idempotent on
	// Result.Key(): writing a key again replaces the row, never adds one.
	//
	// A batch is all-or-nothing for transport and server errors. When some
	// rows are bad in themselves (constraint violation, schema mismatch),
	// Write commits the good rows and returns *RowErrors naming the bad ones
	// by index; the worker dead-letters those jobs.
	Write(ctx context.Context, rows []Result) error
	// Close waits for writes in progress, flushes and releases resources.
	Close(ctx context.Context) error
}

// RowError is one rejected row of a batch.
type RowError struct {
	Index int
	Err   error
}

// RowErrors is returned by Write when only some rows were rejected.
type RowErrors []RowError

func (e RowErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d row(s) rejected", len(e))
	for i, r := range e {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; row %d: %v", r.Index, r.Err)
	}
	return b.String()
}

// AsRowErrors returns the row errors in err, if that is what it is.
func AsRowErrors(err error) (RowErrors, bool) {
	var re RowErrors
	if errors.As(err, &re) {
		return re, true
	}
	return nil, false
}

// ReasonInvalidRow is the errkind reason of a row a sink refuses in itself.
const ReasonInvalidRow errkind.Reason = "invalid_row"

// ReasonClosed is the errkind reason of a call on a closed sink; the error
// wraps ErrClosed.
const ReasonClosed errkind.Reason = "sink_closed"

// ReasonConnection is the errkind reason of a write that failed because the
// connection to the store failed or was lost; it is retryable.
const ReasonConnection errkind.Reason = "connection"

// CheckRow is the rule every sink applies to a row before writing it: the
// key is complete and every score is a finite number. It returns an
// InvalidInput error with reason ReasonInvalidRow. A sink may refuse more
// (its table's own constraints), never less.
func CheckRow(r *Result) error {
	bad := func(format string, args ...any) error {
		return errkind.Errorf(errkind.InvalidInput, ReasonInvalidRow, format, args...)
	}
	switch {
	case r.Tenant == "":
		return bad("empty tenant")
	case r.ResponseID == "":
		return bad("empty response_id")
	case r.PipelineVersion == "":
		return bad("empty pipeline_version")
	case !finite(r.SentimentScore):
		return bad("sentiment_score is %v", r.SentimentScore)
	}
	for _, tg := range r.Tags {
		if !finite(tg.Score) {
			return bad("tag %q score is %v", tg.Tag, tg.Score)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
