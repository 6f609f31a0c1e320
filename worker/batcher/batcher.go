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
//
// Items wait in flows (a tenant's live work, a tenant's backfill), and a
// batch is filled across flows rather than first come, first served. Within
// a lane, by deficit round robin with per-flow weights: a tenant's backlog
// delays another tenant's work by at most its share of each batch, while a
// shared model still gets full batches mixing tenants. Between lanes, live
// goes first: a batch with live items carries only the backfill owed by a
// minimum share (so that backfill cannot starve), and backfill gets whole
// batches whenever no live item waits.
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

// Lane orders flows: live work is served before backfill.
type Lane uint8

// Lanes, in the order they are served.
const (
	Live Lane = iota
	Backfill
	numLanes
)

// String names the lane for metrics and logs.
func (l Lane) String() string {
	if l == Backfill {
		return "backfill"
	}
	return "live"
}

// Flow names the queue an item waits in.
type Flow struct {
	Lane Lane
	Key  string // the tenant
}

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
	// beyond it (backpressure). Default 4 × MaxItems. Ignored when
	// Unbounded.
	MaxWaiting int
	// Unbounded makes Add never block: the caller bounds what it adds (a
	// source's flow control bounds the messages a worker holds), so that
	// one flow's backlog never stops the caller from adding to the others.
	Unbounded bool
	// Weight is a flow's share within its lane relative to the others
	// (≥ 1; nil or a value below 1 means 1).
	Weight func(f Flow) int
	// BackfillShare is the smallest share of items backfill gets while
	// live items wait, between 0 and 1. Backfill gets all of any batch
	// that live work does not fill.
	BackfillShare float64
}

// SendFunc delivers one batch. It runs on its own goroutine, owns batch, and
// must not return before the items are dealt with (delivered or failed):
// its return frees the in-flight slot.
type SendFunc[T any] func(ctx context.Context, batch []T)

// Batcher is safe for concurrent use.
type Batcher[T any] struct {
	p    Policy
	size func(T) int
	flow func(T) Flow
	send SendFunc[T]
	ctx  context.Context

	done      chan struct{} // a send finished
	wake      chan struct{} // an item arrived or the batch size changed
	closing   chan struct{} // wakes blocked Adds
	stopped   chan struct{}
	closeOnce sync.Once
	limit     atomic.Int64 // the batch size now, ≤ p.MaxItems (an endpoint said 413, then grew back)

	mu       sync.Mutex
	closed   bool
	flows    map[Flow]*queue[T]
	lanes    [numLanes]lane[T]
	total    int
	bytes    int
	oldest   time.Time     // when the oldest waiting item arrived (approximately, after a partial take)
	space    chan struct{} // closed when items leave; nil when no Add waits
	backDebt float64       // backfill items owed by BackfillShare, carried between batches
}

// queue is one flow's waiting items, oldest first.
type queue[T any] struct {
	flow    Flow
	items   []T
	head    int
	weight  int
	deficit int
}

func (q *queue[T]) len() int { return len(q.items) - q.head }

func (q *queue[T]) pop() T {
	var zero T
	it := q.items[q.head]
	q.items[q.head] = zero // let the GC have sent items
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return it
}

// lane round-robins over its flows that have items.
type lane[T any] struct {
	ring []*queue[T]
	next int // whose turn it is
	n    int // items waiting
}

// New starts a batcher whose items all wait in one flow. ctx is passed to
// send; cancel it only to abandon work (Close drains without cancelling).
// size may be nil when MaxBytes is 0.
func New[T any](ctx context.Context, p Policy, size func(T) int, send SendFunc[T]) *Batcher[T] {
	return NewFlows(ctx, p, size, nil, send)
}

// NewFlows starts a batcher whose items wait in the flow that flow names
// (nil: one flow), served as the package comment says.
func NewFlows[T any](ctx context.Context, p Policy, size func(T) int, flow func(T) Flow, send SendFunc[T]) *Batcher[T] {
	b := build(ctx, p, size, flow, send)
	go b.run()
	return b
}

// build is NewFlows without the goroutine (tests drive take directly).
func build[T any](ctx context.Context, p Policy, size func(T) int, flow func(T) Flow, send SendFunc[T]) *Batcher[T] {
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
	p.BackfillShare = min(max(p.BackfillShare, 0), 1)
	b := &Batcher[T]{
		p: p, size: size, flow: flow, send: send, ctx: ctx,
		done:    make(chan struct{}, p.MaxInFlight),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		flows:   make(map[Flow]*queue[T]),
	}
	b.limit.Store(int64(p.MaxItems))
	return b
}

// Add queues an item, blocking while MaxWaiting items are queued (unless
// Unbounded). It fails with ctx's error, or ErrClosed after Close.
func (b *Batcher[T]) Add(ctx context.Context, item T) error {
	var f Flow
	if b.flow != nil {
		f = b.flow(item)
		if f.Lane >= numLanes {
			f.Lane = Backfill
		}
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if b.p.Unbounded || b.total < b.p.MaxWaiting {
			b.enqueue(f, item)
			b.mu.Unlock()
			b.signal()
			return nil
		}
		if b.space == nil {
			b.space = make(chan struct{})
		}
		space := b.space
		b.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.closing:
			return ErrClosed
		}
	}
}

// Waiting is the number of items of flow f queued and not yet sent.
func (b *Batcher[T]) Waiting(f Flow) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.flows[f]; q != nil {
		return q.len()
	}
	return 0
}

// Len is the number of items queued and not yet sent.
func (b *Batcher[T]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// LaneLen is the number of items of lane l queued and not yet sent.
func (b *Batcher[T]) LaneLen(l Lane) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l >= numLanes {
		return 0
	}
	return b.lanes[l].n
}

func (b *Batcher[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// enqueue adds item to its flow; b.mu is held.
func (b *Batcher[T]) enqueue(f Flow, item T) {
	q := b.flows[f]
	if q == nil {
		w := 1
		if b.p.Weight != nil {
			w = max(b.p.Weight(f), 1)
		}
		q = &queue[T]{flow: f, weight: w}
		b.flows[f] = q
		l := &b.lanes[f.Lane]
		l.ring = append(l.ring, q)
	}
	q.items = append(q.items, item)
	b.lanes[f.Lane].n++
	if b.total == 0 {
		b.oldest = time.Now()
	}
	b.total++
	if b.p.MaxBytes > 0 {
		b.bytes += b.size(item)
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
	b.signal()
}

// Close sends what is queued, waits for every send to return, and stops.
// It returns early with ctx's error; sends still running see b's context.
func (b *Batcher[T]) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.closing)
	})
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// full reports whether a whole batch waits; b.mu is held.
func (b *Batcher[T]) full(maxItems int) bool {
	return b.total >= maxItems || (b.p.MaxBytes > 0 && b.bytes >= b.p.MaxBytes)
}

// take cuts the next batch of at most n items; b.mu is held. Live flows go
// first; backfill gets what BackfillShare owes it, and whole batches while
// no live item waits.
func (b *Batcher[T]) take(n int) []T {
	n = min(n, b.total)
	batch := make([]T, 0, n)
	bytes := 0
	fits := func(it T) bool {
		if b.p.MaxBytes == 0 {
			return true
		}
		s := b.size(it)
		if len(batch) > 0 && bytes+s > b.p.MaxBytes {
			return false
		}
		bytes += s
		return true
	}
	live, back := &b.lanes[Live], &b.lanes[Backfill]
	owed := 0
	if live.n > 0 && back.n > 0 {
		b.backDebt += b.p.BackfillShare * float64(n)
		owed = min(int(b.backDebt), back.n)
		b.backDebt -= float64(owed)
	} else {
		// The share is a floor while both lanes wait, not a debt kept
		// through times when one is idle.
		b.backDebt = 0
	}
	stopped := false
	if owed > 0 {
		stopped = b.pop(back, owed, fits, &batch)
	}
	before := len(batch)
	if !stopped {
		stopped = b.pop(live, n-len(batch), fits, &batch)
	}
	// A batch carrying live items gets no more backfill than it is owed:
	// topping it up would make live feedback pay a full batch's time for a
	// backlog's sake. Backfill fills every batch live does not use.
	if !stopped && len(batch) == before {
		b.pop(back, n-len(batch), fits, &batch)
	}
	b.total -= len(batch)
	if b.p.MaxBytes > 0 {
		b.bytes -= bytes
	}
	if b.total > 0 {
		// The remainder waited as long as the batch did.
		b.oldest = time.Now().Add(-b.p.Linger)
	}
	if b.space != nil {
		close(b.space)
		b.space = nil
	}
	return batch
}

// pop moves up to k items from l's flows into batch by deficit round
// robin: each flow's turn gives it as many items as its weight, and a turn
// cut short by a full batch carries over to the next batch. It reports
// whether the byte bound stopped it.
func (b *Batcher[T]) pop(l *lane[T], k int, fits func(T) bool, batch *[]T) bool {
	for k > 0 && l.n > 0 {
		if l.next >= len(l.ring) {
			l.next = 0
		}
		q := l.ring[l.next]
		if q.deficit <= 0 {
			q.deficit = q.weight
		}
		for q.deficit > 0 && k > 0 && q.len() > 0 {
			if !fits(q.items[q.head]) {
				return true
			}
			*batch = append(*batch, q.pop())
			q.deficit--
			k--
			l.n--
		}
		switch {
		case q.len() == 0:
			// An idle flow keeps no place and no credit; the next flow
			// slides into this index.
			l.ring = append(l.ring[:l.next], l.ring[l.next+1:]...)
			delete(b.flows, q.flow)
		case q.deficit <= 0:
			l.next++
		}
	}
	return false
}

func (b *Batcher[T]) run() {
	defer close(b.stopped)
	var (
		inFlight int
		timer    *time.Timer
		draining bool
		closing  = b.closing
	)
	for {
		b.mu.Lock()
		maxItems := int(b.limit.Load())
		// Dispatch what the policy allows.
		for b.total > 0 && inFlight < b.p.MaxInFlight {
			if !(b.full(maxItems) || inFlight == 0 || draining || time.Since(b.oldest) >= b.p.Linger) {
				break
			}
			batch := b.take(maxItems)
			inFlight++
			go func() {
				b.send(b.ctx, batch)
				b.done <- struct{}{}
			}()
		}
		if draining && b.total == 0 && inFlight == 0 {
			b.mu.Unlock()
			return
		}
		// Arm the linger timer only when a partial batch waits on it.
		var timerC <-chan time.Time
		if b.total > 0 && inFlight < b.p.MaxInFlight && !draining {
			wait := b.p.Linger - time.Since(b.oldest)
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timerC = timer.C
		}
		b.mu.Unlock()
		select {
		case <-b.wake:
		case <-b.done:
			inFlight--
		case <-timerC:
		case <-closing:
			// No Add can queue any more, so what waits is final.
			closing = nil
			draining = true
		}
	}
}
