package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus"
)

// A small run of every scenario keeps the benchmark code from rotting. It
// checks that each produces figures and a report, never what they are.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every bench scenario")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := Run(ctx, Options{
		Data: chorus.Data, OverheadJobs: 2000, CapacityJobs: 500, TrickleJobs: 5,
		TrickleEvery: 10 * time.Millisecond, MemoryJobs: 5000,
		IsoWarmup: 50 * time.Millisecond, IsoMeasure: 300 * time.Millisecond, IsoBacklog: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Overhead.Jobs != 2000 || len(r.Capacity.Runs) != 2 || r.Trickle.Jobs != 5 || len(r.Startup) != 2 || r.Memory.Jobs != 5000 {
		t.Fatalf("incomplete report: %+v", r)
	}
	md := r.Markdown()
	for _, want := range []string{"(a) Worker overhead", "(b) Throughput", "(c) Added latency", "Start-up", "Memory", "Fairness between tenants", "Live feedback against a backfill", "One bad model"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
