package batcher

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// job is a test item: its flow and a sequence number within the flow.
type job struct {
	f Flow
	n int
}

func (j job) String() string {
	l := "L"
	if j.f.Lane == Backfill {
		l = "B"
	}
	return fmt.Sprintf("%s%s%d", l, j.f.Key, j.n)
}

func flowOf(j job) Flow { return j.f }

// fill queues n items of each flow, in flow order, as Add would.
func fill(b *Batcher[job], n int, flows ...Flow) {
	for i := range n {
		for _, f := range flows {
			b.enqueue(f, job{f, i})
		}
	}
}

// fillRun queues n items of one flow.
func fillRun(b *Batcher[job], f Flow, n int) {
	for i := range n {
		b.enqueue(f, job{f, i})
	}
}

func names(batch []job) string {
	s := make([]string, len(batch))
	for i, j := range batch {
		s[i] = j.String()
	}
	return strings.Join(s, " ")
}

// count tallies a batch's items per flow key and lane.
func count(batch []job) map[string]int {
	c := map[string]int{}
	for _, j := range batch {
		c[j.f.Lane.String()+"/"+j.f.Key]++
	}
	return c
}

func TestFairTake(t *testing.T) {
	a, bb, c := Flow{Key: "a"}, Flow{Key: "b"}, Flow{Key: "c"}
	backA := Flow{Lane: Backfill, Key: "a"}
	tests := []struct {
		name   string
		policy Policy
		weight map[string]int
		queue  func(b *Batcher[job])
		n      int
		want   []string // successive batches
	}{
		{
			name:  "a backlog queued first does not delay b",
			queue: func(b *Batcher[job]) { fillRun(b, a, 10); fillRun(b, bb, 2) },
			n:     4,
			want:  []string{"La0 Lb0 La1 Lb1", "La2 La3 La4 La5"},
		},
		{
			name:   "weights share each batch",
			weight: map[string]int{"a": 3},
			queue:  func(b *Batcher[job]) { fillRun(b, a, 10); fillRun(b, bb, 10) },
			n:      8,
			want:   []string{"La0 La1 La2 Lb0 La3 La4 La5 Lb1"},
		},
		{
			name:  "a turn cut short by a full batch carries over",
			queue: func(b *Batcher[job]) { fill(b, 3, a, bb, c) },
			n:     2,
			want:  []string{"La0 Lb0", "Lc0 La1", "Lb1 Lc1", "La2 Lb2", "Lc2"},
		},
		{
			name:   "live first, alone; backfill takes the batches live leaves",
			policy: Policy{BackfillShare: 0},
			queue:  func(b *Batcher[job]) { fillRun(b, backA, 5); fillRun(b, bb, 2) },
			n:      4,
			want:   []string{"Lb0 Lb1", "Ba0 Ba1 Ba2 Ba3", "Ba4"},
		},
		{
			name:   "backfill gets its minimum share while live waits",
			policy: Policy{BackfillShare: 0.25},
			queue:  func(b *Batcher[job]) { fillRun(b, backA, 20); fillRun(b, bb, 20) },
			n:      4,
			want:   []string{"Ba0 Lb0 Lb1 Lb2", "Ba1 Lb3 Lb4 Lb5"},
		},
		{
			name:   "a live trickle carries only the owed backfill",
			policy: Policy{BackfillShare: 0.5},
			queue:  func(b *Batcher[job]) { fillRun(b, backA, 20); fillRun(b, bb, 1) },
			n:      4,
			want:   []string{"Ba0 Ba1 Lb0", "Ba2 Ba3 Ba4 Ba5"},
		},
		{
			name:   "a share below one item per batch accumulates",
			policy: Policy{BackfillShare: 0.5},
			queue:  func(b *Batcher[job]) { fillRun(b, backA, 5); fillRun(b, bb, 5) },
			n:      1,
			want:   []string{"Lb0", "Ba0", "Lb1", "Ba1"},
		},
		{
			name:   "bytes bound a batch across flows",
			policy: Policy{MaxBytes: 3},
			queue:  func(b *Batcher[job]) { fill(b, 4, a, bb) },
			n:      10,
			want:   []string{"La0 Lb0 La1", "Lb1 La2 Lb2", "La3 Lb3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.MaxItems = tt.n
			p.Unbounded = true
			if tt.weight != nil {
				p.Weight = func(f Flow) int { return tt.weight[f.Key] }
			}
			var size func(job) int
			if p.MaxBytes > 0 {
				size = func(job) int { return 1 }
			}
			b := build(context.Background(), p, size, flowOf, nil)
			tt.queue(b)
			for i, want := range tt.want {
				if got := names(b.take(tt.n)); got != want {
					t.Fatalf("batch %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

// Over many batches the shares converge to the weights and the lane floor,
// and a shared model's batches stay full.
func TestFairSharesConverge(t *testing.T) {
	p := Policy{MaxItems: 32, Unbounded: true, BackfillShare: 0.1,
		Weight: func(f Flow) int {
			if f.Key == "gold" {
				return 2
			}
			return 1
		}}
	b := build(context.Background(), p, nil, flowOf, nil)
	flows := []Flow{{Key: "gold"}, {Key: "free"}, {Lane: Backfill, Key: "free"}}
	fill(b, 10000, flows...)
	total := map[string]int{}
	for range 100 {
		batch := b.take(32)
		if len(batch) != 32 {
			t.Fatalf("batch of %d at backlog, want full batches of 32", len(batch))
		}
		for k, v := range count(batch) {
			total[k] += v
		}
	}
	// 3200 items: backfill 10% (320); live 2:1 between gold and free.
	want := map[string]int{"backfill/free": 320, "live/gold": 1920, "live/free": 960}
	for k, w := range want {
		if d := total[k] - w; d < -2 || d > 2 {
			t.Errorf("%s got %d items, want %d±2 (all: %v)", k, total[k], w, total)
		}
	}
}

func TestWaitingAndIdleFlowsForgotten(t *testing.T) {
	b := build(context.Background(), Policy{MaxItems: 4, Unbounded: true}, nil, flowOf, nil)
	a := Flow{Key: "a"}
	fillRun(b, a, 3)
	if got := b.Waiting(a); got != 3 {
		t.Fatalf("Waiting = %d, want 3", got)
	}
	b.take(4)
	if got := b.Waiting(a); got != 0 {
		t.Fatalf("Waiting after take = %d, want 0", got)
	}
	if len(b.flows) != 0 || len(b.lanes[Live].ring) != 0 {
		t.Fatalf("an idle flow is kept: %d flows, ring %d", len(b.flows), len(b.lanes[Live].ring))
	}
}

// Unbounded Add never blocks, however far one flow is behind, and Close
// still delivers everything.
func TestUnboundedAddNeverBlocks(t *testing.T) {
	ctx := ctxT(t)
	hold := make(chan struct{})
	got := make(chan int, 10000)
	send := func(_ context.Context, batch []job) {
		<-hold
		got <- len(batch)
	}
	b := NewFlows(ctx, Policy{MaxItems: 2, MaxInFlight: 1, MaxWaiting: 2, Unbounded: true}, nil, flowOf, send)
	for i := range 1000 {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err := b.Add(actx, job{Flow{Key: "a"}, i})
		cancel()
		if err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	close(hold)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	close(got)
	n := 0
	for s := range got {
		n += s
	}
	if n != 1000 {
		t.Fatalf("delivered %d, want 1000", n)
	}
}
