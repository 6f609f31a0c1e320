package wiring

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// probeEvery is how often /readyz may ask the sink: a probe flood (every
// kubelet, a load balancer, a curl loop) would otherwise run a query per
// request on the pool the sink writes with.
const probeEvery = time.Second

// probe caches a sink's Check: at most one runs at a time and at most one
// per probeEvery; callers in between get the last answer.
type probe struct {
	check   func(ctx context.Context) error
	every   time.Duration
	timeout time.Duration
	now     func() time.Time

	mu   sync.Mutex
	at   time.Time // when the cached answer was taken (zero: none yet)
	err  error
	busy chan struct{} // closed when the running check ends; nil when none runs
}

func newProbe(check func(ctx context.Context) error) *probe {
	return &probe{check: check, every: probeEvery, timeout: 2 * time.Second, now: time.Now}
}

// Check answers from the cache when it is fresh, else runs one check,
// sharing it with concurrent callers.
func (p *probe) Check(ctx context.Context) error {
	p.mu.Lock()
	if !p.at.IsZero() && p.now().Sub(p.at) < p.every {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if p.busy != nil {
		busy := p.busy
		p.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	busy := make(chan struct{})
	p.busy = busy
	p.mu.Unlock()

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	err := p.check(cctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("sink: %w", err)
	}
	p.mu.Lock()
	p.at, p.err, p.busy = p.now(), err, nil
	p.mu.Unlock()
	close(busy)
	return err
}
