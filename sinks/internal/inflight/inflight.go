// Package inflight is the close protocol the sink drivers share: Close
// stops new Writes, waits for those in progress, and only then releases
// what they use (a stream, a file, a pool), so a Write never finds its
// connection gone under it.
package inflight

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrWritesInProgress is wrapped, with ctx's error, by a Close whose ctx
// ended before the Writes in progress did, so a driver can tell that from
// an error of its own release.
var ErrWritesInProgress = errors.New("writes still in progress")

// Tracker counts a sink's Writes in progress. The zero value is ready.
type Tracker struct {
	// An RWMutex so concurrent Writes enter without queueing on each
	// other; only Close takes it exclusively.
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// Enter registers a Write, or reports false once Close has begun. Every
// true must be matched by one Leave.
func (t *Tracker) Enter() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// Leave ends a Write that Enter registered.
func (t *Tracker) Leave() { t.wg.Done() }

// Close stops new Writes, waits for those in progress and then runs
// release, returning its error. If ctx ends first, Close returns an error
// wrapping ErrWritesInProgress and ctx's error, and release still runs,
// once, when the last Write leaves: the sink's resources are freed late,
// never under a Write. Only the first Close runs release; later ones
// return nil at once.
func (t *Tracker) Close(ctx context.Context, release func() error) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		return release()
	case <-ctx.Done():
		go func() {
			<-drained
			_ = release() // nobody is left to tell
		}()
		return fmt.Errorf("%w: %w", ErrWritesInProgress, ctx.Err())
	}
}
