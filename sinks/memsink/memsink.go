// Package memsink is an in-memory sink: rows keyed by sinks.Result.Key, last
// write wins. For tests and benchmarks, where a file's fsync would measure
// the disk instead of the worker.
package memsink

import (
	"context"
	"sort"
	"sync"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Store holds the rows; Sinks opened on one store share them, as writers
// of one table do. Safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	rows   map[sinks.Key]sinks.Result
	writes int
}

// Sink writes to a Store.
type Sink struct {
	*Store
	closedMu sync.Mutex
	closed   bool
}

// New returns a sink on a new, empty store.
func New() *Sink { return Open(&Store{rows: make(map[sinks.Key]sinks.Result)}) }

// Open returns a new sink on st.
func Open(st *Store) *Sink { return &Sink{Store: st} }

// Write commits rows; rows without a key or with a non-finite score are
// rejected by index, the rest committed.
func (s *Sink) Write(ctx context.Context, rows []sinks.Result) error {
	if err := ctx.Err(); err != nil {
		return errkind.New(errkind.Canceled, errkind.ReasonCanceled, err)
	}
	s.closedMu.Lock()
	closed := s.closed
	s.closedMu.Unlock()
	if closed {
		return sinks.ErrClosed
	}
	var bad sinks.RowErrors
	s.mu.Lock()
	for i := range rows {
		if err := sinks.CheckRow(&rows[i]); err != nil {
			bad = append(bad, sinks.RowError{Index: i, Err: err})
			continue
		}
		s.rows[rows[i].Key()] = rows[i]
	}
	s.writes++
	s.mu.Unlock()
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// Close marks the sink closed; rows stay readable in its store.
func (s *Sink) Close(context.Context) error {
	s.closedMu.Lock()
	s.closed = true
	s.closedMu.Unlock()
	return nil
}

// Rows returns every row, sorted by key.
func (s *Store) Rows() []sinks.Result {
	s.mu.Lock()
	out := make([]sinks.Result, 0, len(s.rows))
	for _, r := range s.rows {
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key(), out[j].Key()
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		if a.ResponseID != b.ResponseID {
			return a.ResponseID < b.ResponseID
		}
		return a.PipelineVersion < b.PipelineVersion
	})
	return out
}

// Len is the number of distinct rows.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

// Writes is the number of Write calls that committed.
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
