package worker

import (
	"context"
	"sync"
)

// settler is the completion stage: the nack and dead-letter calls, with
// their retries (up to 30s each), run on its own goroutines. Run inline
// they would sit in whatever slot resolved the message last (a model's
// in-flight batch, a sink writer, a puller), and a dead-letter topic
// outage would stall sink writes and intake for every tenant.
//
// The queue never blocks the caller: what waits in it is bounded by the
// messages and jobs the worker holds, which the source's flow control
// bounds.
type settler struct {
	ctx context.Context

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []func(context.Context)
	closed bool
	wg     sync.WaitGroup
}

// settleWorkers is how many settle calls run at once.
const settleWorkers = 8

func newSettler(ctx context.Context) *settler {
	s := &settler{ctx: ctx}
	s.cond = sync.NewCond(&s.mu)
	s.wg.Add(settleWorkers)
	for range settleWorkers {
		go s.run()
	}
	return s
}

// do queues task; it runs with the work context (cancelled only when the
// drain is abandoned). After Close it runs at once on the caller.
func (s *settler) do(task func(context.Context)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		task(s.ctx)
		return
	}
	s.queue = append(s.queue, task)
	s.cond.Signal()
	s.mu.Unlock()
}

func (s *settler) run() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		task := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		task(s.ctx)
	}
}

// Close lets the queue run dry and waits for it, or for ctx.
func (s *settler) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
