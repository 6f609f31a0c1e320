package batcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type recorder struct {
	mu       sync.Mutex
	batches  [][]int
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	hold     chan struct{} // when non-nil, sends wait on it
	started  chan struct{} // when non-nil, a send that starts signals it if it can
}

func (r *recorder) send(_ context.Context, batch []int) {
	n := r.inFlight.Add(1)
	if r.started != nil {
		select {
		case r.started <- struct{}{}:
		default:
		}
	}
	for {
		m := r.maxSeen.Load()
		if n <= m || r.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	r.batches = append(r.batches, batch)
	r.mu.Unlock()
	r.inFlight.Add(-1)
}

func (r *recorder) items() (n int, sizes []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.batches {
		n += len(b)
		sizes = append(sizes, len(b))
	}
	return n, sizes
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoneItemGoesAtOnceWhenIdle(t *testing.T) {
	ctx := ctxT(t)
	r := &recorder{}
	// A linger far longer than the test: an idle batcher must not wait it out.
	b := New(ctx, Policy{MaxItems: 64, Linger: time.Hour, MaxInFlight: 2}, nil, r.send)
	defer b.Close(ctx)
	if err := b.Add(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for {
		if n, _ := r.items(); n == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("lone item was not sent while the consumer was idle")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestBatchesFillUnderBacklog(t *testing.T) {
	ctx := ctxT(t)
	r := &recorder{hold: make(chan struct{}), started: make(chan struct{}, 1)}
	b := New(ctx, Policy{MaxItems: 10, Linger: time.Hour, MaxInFlight: 1, MaxWaiting: 1000}, nil, r.send)
	// The first item goes alone (idle consumer); hold it so the rest queue.
	if err := b.Add(ctx, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.started:
	case <-ctx.Done():
		t.Fatal("the first item was not sent")
	}
	for i := 1; i <= 100; i++ {
		if err := b.Add(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	close(r.hold)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n, sizes := r.items()
	if n != 101 {
		t.Fatalf("sent %d items, want 101", n)
	}
	want := []int{1, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}
	if len(sizes) != len(want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("batch sizes %v, want %v", sizes, want)
		}
	}
	if m := r.maxSeen.Load(); m != 1 {
		t.Fatalf("max in flight %d, want 1", m)
	}
}

func TestPolicyBounds(t *testing.T) {
	tests := []struct {
		name        string
		policy      Policy
		items       int
		size        func(int) int
		maxBatch    int
		maxInFlight int32
	}{
		{"items", Policy{MaxItems: 7, MaxInFlight: 3}, 500, nil, 7, 3},
		{"bytes", Policy{MaxItems: 100, MaxBytes: 50, MaxInFlight: 2}, 300, func(int) int { return 10 }, 5, 2},
		{"linger", Policy{MaxItems: 16, Linger: 2 * time.Millisecond, MaxInFlight: 4}, 400, nil, 16, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			r := &recorder{}
			b := New(ctx, tc.policy, tc.size, r.send)
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < tc.items; i += 4 {
						if err := b.Add(ctx, i); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := b.Close(ctx); err != nil {
				t.Fatal(err)
			}
			n, sizes := r.items()
			if n != tc.items {
				t.Fatalf("sent %d items, want %d", n, tc.items)
			}
			for _, s := range sizes {
				if s > tc.maxBatch || s < 1 {
					t.Fatalf("batch of %d, bound %d", s, tc.maxBatch)
				}
			}
			if m := r.maxSeen.Load(); m > tc.maxInFlight {
				t.Fatalf("max in flight %d, bound %d", m, tc.maxInFlight)
			}
		})
	}
}

func TestOversizedItemGoesAlone(t *testing.T) {
	ctx := ctxT(t)
	r := &recorder{}
	b := New(ctx, Policy{MaxItems: 10, MaxBytes: 5, MaxInFlight: 1}, func(v int) int { return v }, r.send)
	for _, v := range []int{100, 1, 1} {
		if err := b.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.items(); n != 3 {
		t.Fatalf("sent %d items, want 3", n)
	}
}

// blockWatch is a context that tells when an Add blocks on it: Add asks
// for Done only when the queue is full and it must wait.
type blockWatch struct {
	context.Context
	once    sync.Once
	blocked chan struct{}
}

func (c *blockWatch) Done() <-chan struct{} {
	c.once.Do(func() { close(c.blocked) })
	return c.Context.Done()
}

func TestBackpressureAndClose(t *testing.T) {
	ctx := ctxT(t)
	r := &recorder{hold: make(chan struct{})}
	b := New(ctx, Policy{MaxItems: 2, MaxInFlight: 1, MaxWaiting: 4}, nil, r.send)
	// 1 in flight (held) + MaxWaiting queued in the channel + up to one
	// full batch pending inside the loop; beyond that Add must block.
	added := 0
	for added < 20 {
		actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := b.Add(actx, added)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		added++
	}
	if added >= 20 {
		t.Fatal("Add never blocked: no backpressure")
	}
	// A blocked Add is released by Close with ErrClosed.
	errc := make(chan error, 1)
	actx := &blockWatch{Context: ctx, blocked: make(chan struct{})}
	go func() { errc <- b.Add(actx, -1) }()
	select {
	case <-actx.blocked:
	case <-ctx.Done():
		t.Fatal("Add did not block on the full queue")
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close(ctx) }()
	if err := <-errc; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Add: %v, want nil or ErrClosed", err)
	}
	close(r.hold)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, 99); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
	n, _ := r.items()
	if n < added {
		t.Fatalf("Close flushed %d items, want at least %d", n, added)
	}
}

func TestLowerMaxItems(t *testing.T) {
	ctx := ctxT(t)
	r := &recorder{hold: make(chan struct{})}
	b := New(ctx, Policy{MaxItems: 8, MaxInFlight: 1, MaxWaiting: 100}, nil, r.send)
	// LowerMaxItems stores the limit before it returns, and the loop reads
	// it after it sees an item, so every batch below is cut to it.
	b.LowerMaxItems(3)
	for i := range 20 {
		if err := b.Add(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	close(r.hold)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, sizes := r.items()
	for _, s := range sizes {
		if s > 3 {
			t.Fatalf("batch sizes %v exceed lowered max 3", sizes)
		}
	}
}
