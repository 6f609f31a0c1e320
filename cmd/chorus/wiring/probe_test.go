package wiring

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbeCachesAndShares(t *testing.T) {
	now := time.Unix(0, 0)
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	p := newProbe(func(context.Context) error {
		calls.Add(1)
		started <- struct{}{}
		<-release
		return errors.New("down")
	})
	p.now = func() time.Time { return now }

	// A flood of concurrent probes runs one check.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- p.Check(t.Context()) }()
	<-started
	for range 49 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- p.Check(t.Context()) }()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || err.Error() != "sink: down" {
			t.Errorf("probe answered %v, want the check's error", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d checks for one flood, want 1", n)
	}
	// Within the interval the cached answer serves; after it, a new check.
	if err := p.Check(t.Context()); err == nil || calls.Load() != 1 {
		t.Errorf("cached answer: %v after %d checks", err, calls.Load())
	}
	now = now.Add(probeEvery)
	p.check = func(context.Context) error { calls.Add(1); return nil }
	if err := p.Check(t.Context()); err != nil || calls.Load() != 2 {
		t.Errorf("after the interval: %v after %d checks, want a fresh check", err, calls.Load())
	}
}
