// Package batcher groups items into batches for a slow consumer (a model
// endpoint, a sink, a broker's ack call) with a bounded number of batches in
// flight.
//
// The policy is adaptive rather than timer-driven: when a send slot is free
// and nothing is in flight, whatever is waiting goes at once, so a lone item
// at trickle load never waits out the linger. While sends are in flight,
// items accumulate until a batch is full, a slot frees up and the oldest
// waiting item has lingered long enough, or the batcher is closing. At
// backlog this yields full batches; at trickle load, batches of one with no
// added latency.
package batcher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("batcher closed")

// Policy bounds batches and the work waiting for them.
type Policy struct {
	// MaxItems is the most items in one batch (≥ 1).
	MaxItems int
	// MaxBytes is the most bytes in one batch, as measured by the size
	// function; 0 means no byte bound. A single item larger than MaxBytes
	// still goes, alone.
	MaxBytes int
	// Linger is how long a partial batch may wait for more items while
	// other batches are in flight. 0 sends partial batches as soon as a
	// slot is free.
	Linger time.Duration
	// MaxInFlight is the most batches being sent at once (≥ 1).
	MaxInFlight int
	// MaxWaiting is the most items queued and not yet sent; Add blocks
	// beyond it (backpressure). Default 4 × MaxItems.
	MaxWaiting int
}

// SendFunc delivers one batch. It runs on its own goroutine, owns batch, and
// must not return before the items are dealt with (delivered or failed):
// its return frees the in-flight slot.
type SendFunc[T any] func(ctx context.Context, batch []T)

// Batcher is safe for concurrent use.
type Batcher[T any] struct {
	p    Policy
	size func(T) int
	send SendFunc[T]
	ctx  context.Context

	in        chan T
	done      chan struct{} // a send finished
	closing   chan struct{} // wakes blocked Adds
	drain     chan struct{} // no Add can send any more: flush and stop
	stopped   chan struct{}
	closeOnce sync.Once
	closeMu   sync.RWMutex
	isClosed  bool
	limit     atomic.Int64  // the batch size now, ≤ p.MaxItems (an endpoint said 413, then grew back)
	maxItems  chan struct{} // wakes run to read limit
}

// New starts a batcher. ctx is passed to send; cancel it only to abandon
// work (Close drains without cancelling). size may be nil when MaxBytes is 0.
func New[T any](ctx context.Context, p Policy, size func(T) int, send SendFunc[T]) *Batcher[T] {
	if p.MaxItems < 1 {
		p.MaxItems = 1
	}
	if p.MaxInFlight < 1 {
		p.MaxInFlight = 1
	}
	if p.MaxWaiting < p.MaxItems {
		p.MaxWaiting = 4 * p.MaxItems
	}
	if size == nil {
		p.MaxBytes = 0
	}
	b := &Batcher[T]{
		p: p, size: size, send: send, ctx: ctx,
		in:       make(chan T, p.MaxWaiting),
		done:     make(chan struct{}, p.MaxInFlight),
		closing:  make(chan struct{}),
		drain:    make(chan struct{}),
		stopped:  make(chan struct{}),
		maxItems: make(chan struct{}, 1),
	}
	b.limit.Store(int64(p.MaxItems))
	go b.run()
	return b
}

// Add queues an item, blocking while MaxWaiting items are queued. It fails
// with ctx's error, or ErrClosed after Close.
func (b *Batcher[T]) Add(ctx context.Context, item T) error {
	// The read lock lets Close know when no Add can still send: it wakes
	// blocked Adds through closing, then waits for the write lock.
	b.closeMu.RLock()
	defer b.closeMu.RUnlock()
	if b.isClosed {
		return ErrClosed
	}
	select {
	case b.in <- item:
		return nil
	default:
	}
	select {
	case b.in <- item:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closing:
		return ErrClosed
	}
}

// LowerMaxItems reduces the batch size limit (never below 1), e.g. after an
// endpoint rejected a batch as too large.
func (b *Batcher[T]) LowerMaxItems(n int) {
	if n < int(b.limit.Load()) {
		b.SetMaxItems(n)
	}
}

// SetMaxItems sets the batch size limit, between 1 and Policy.MaxItems:
// lowered when an endpoint refuses a batch as too large, raised again as
// batches succeed. The latest call wins.
func (b *Batcher[T]) SetMaxItems(n int) {
	b.limit.Store(int64(max(1, min(n, b.p.MaxItems))))
	select {
	case b.maxItems <- struct{}{}:
	default:
	}
}

// Close sends what is queued, waits for every send to return, and stops.
// It returns early with ctx's error; sends still running see b's context.
func (b *Batcher[T]) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		close(b.closing)
		b.closeMu.Lock()
		b.isClosed = true
		b.closeMu.Unlock()
		close(b.drain)
	})
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher[T]) run() {
	defer close(b.stopped)
	var (
		pending      []T
		pendingBytes int
		oldest       time.Time // when pending[0] arrived
		inFlight     int
		timer        *time.Timer
		timerC       <-chan time.Time
		drain        = b.drain
		draining     bool
		maxItems     = b.p.MaxItems
	)
	add := func(it T) {
		if len(pending) == 0 {
			oldest = time.Now()
		}
		pending = append(pending, it)
		if b.p.MaxBytes > 0 {
			pendingBytes += b.size(it)
		}
	}
	// take cuts the next batch off pending.
	take := func() []T {
		n := len(pending)
		if n > maxItems {
			n = maxItems
		}
		if b.p.MaxBytes > 0 {
			bytes := 0
			for i := 0; i < n; i++ {
				s := b.size(pending[i])
				if i > 0 && bytes+s > b.p.MaxBytes {
					n = i
					break
				}
				bytes += s
			}
			pendingBytes -= bytes
		}
		batch := make([]T, n)
		copy(batch, pending[:n])
		var zero T
		for i := range n {
			pending[i] = zero // let the GC have sent items
		}
		rest := copy(pending, pending[n:])
		pending = pending[:rest]
		if rest > 0 {
			// The remainder waited as long as the batch did.
			oldest = time.Now().Add(-b.p.Linger)
		}
		return batch
	}
	full := func() bool {
		return len(pending) >= maxItems || (b.p.MaxBytes > 0 && pendingBytes >= b.p.MaxBytes)
	}
	for {
		// Dispatch what the policy allows.
		for len(pending) > 0 && inFlight < b.p.MaxInFlight {
			if !(full() || inFlight == 0 || draining || time.Since(oldest) >= b.p.Linger) {
				break
			}
			batch := take()
			inFlight++
			go func() {
				b.send(b.ctx, batch)
				b.done <- struct{}{}
			}()
		}
		if draining && len(pending) == 0 && inFlight == 0 {
			return
		}
		// Arm the linger timer only when a partial batch waits on it.
		timerC = nil
		if len(pending) > 0 && inFlight < b.p.MaxInFlight && !draining {
			wait := b.p.Linger - time.Since(oldest)
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timerC = timer.C
		}
		// Stop reading input while a full batch waits for a slot, so that
		// the channel's capacity is the backpressure bound.
		in := b.in
		if full() || draining {
			in = nil
		}
		select {
		case it := <-in:
			add(it)
			// Gather whatever else is already queued without a wake-up each.
			for !full() {
				select {
				case it := <-b.in:
					add(it)
					continue
				default:
				}
				break
			}
		case <-b.done:
			inFlight--
		case <-timerC:
		case <-b.maxItems:
			maxItems = int(b.limit.Load())
		case <-drain:
			drain = nil
			draining = true
			// No Add can send any more, so the queue is final.
			for {
				select {
				case it := <-b.in:
					add(it)
					continue
				default:
				}
				break
			}
		}
	}
}
