package testenv

import (
	"context"
	"testing"
	"time"
)

// Case is one named case of a conformance suite (sourcetest, sinktest),
// run against the environment E the suite builds for it.
type Case[E any] struct {
	Name string
	Run  func(*testing.T, E)
}

// RunCases runs each case as a parallel subtest, on an environment that
// setup builds for that case alone, so that one case's leftovers never
// reach another.
func RunCases[E any](t *testing.T, cases []Case[E], setup func(*testing.T) E) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			tc.Run(t, setup(t))
		})
	}
}

// NewHarness calls newHarness under a context bounded by timeout, fails t
// if it errs, and closes the harness when t ends, after what the case
// opened on it is closed (t.Cleanup runs last-registered first).
func NewHarness[H interface{ Close() }](t *testing.T, timeout time.Duration, newHarness func(context.Context, testing.TB) (H, error)) H {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	h, err := newHarness(ctx, t)
	if err != nil {
		t.Fatalf("new harness: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}
