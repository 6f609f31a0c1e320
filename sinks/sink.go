// Package sinks defines the driver interface every result sink implements
// (Postgres, BigQuery, JSONL file). Drivers live in provider-named
// subpackages; sinktest holds the conformance suite they all pass.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusml/chorus/worker/job"
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
	Write(ctx context.Context, rows []job.Result) error
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
