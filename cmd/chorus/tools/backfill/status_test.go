package backfill

import (
	"context"
	"errors"
	"testing"
)

// failingCount is a sink whose count fails.
type failingCount struct{ err error }

func (f failingCount) CountRun(context.Context, string) (int64, error) { return 0, f.err }

// backfill status subtracts the sink's count from the checkpoint's
// published jobs (the drivers' tests check the count itself), and returns a
// failed count as it is.
func TestRunStatusSink(t *testing.T) {
	ctx := context.Background()
	cp := &Checkpoint{RunID: "bf-20261201-x7", Confirmed: 60, Total: 60, Done: true}
	cp.Counts.Published = 50
	st, err := RunStatus(ctx, cp, fixedCount(42), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.InSink != 42 || st.Pending != 8 || st.DeadLettered != nil || st.Published != 50 || !st.Done {
		t.Fatalf("status %+v", st)
	}

	t.Run("a failed count is an error", func(t *testing.T) {
		boom := errors.New("not found: table p:d.chorus_results")
		if _, err := RunStatus(ctx, cp, failingCount{boom}, nil); !errors.Is(err, boom) {
			t.Fatalf("error %v, want the count's", err)
		}
	})
}
