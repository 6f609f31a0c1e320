// Package delayq is the nack-delay queue the in-process source drivers
// share: items ordered by when they are due, then by a sequence number, so
// that equal delays keep their publish order.
package delayq

import (
	"container/heap"
	"time"
)

// Queue is a min-heap of items by (due, seq). Not safe for concurrent use:
// drivers hold it under their own lock.
type Queue[T any] struct{ h items[T] }

type item[T any] struct {
	due int64 // unix nanoseconds
	seq uint64
	v   T
}

// Push adds v, due at due (unix nanoseconds).
func (q *Queue[T]) Push(due int64, seq uint64, v T) { heap.Push(&q.h, item[T]{due, seq, v}) }

// Len is the number of items waiting.
func (q *Queue[T]) Len() int { return len(q.h) }

// Next returns when the earliest item is due; false when empty.
func (q *Queue[T]) Next() (int64, bool) {
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].due, true
}

// Wait is how long a Receive that gives up at deadline waits at now: to
// deadline, or less if an item falls due first (unix nanoseconds both).
// ok is false once deadline has passed.
func (q *Queue[T]) Wait(now, deadline int64) (wait time.Duration, ok bool) {
	wait = time.Duration(deadline - now)
	if wait <= 0 {
		return 0, false
	}
	if due, ok := q.Next(); ok {
		wait = min(wait, time.Duration(due-now))
	}
	return wait, true
}

// PopDue removes every item due at or before now and passes it to f, in
// (due, seq) order.
func (q *Queue[T]) PopDue(now int64, f func(T)) {
	for len(q.h) > 0 && q.h[0].due <= now {
		f(heap.Pop(&q.h).(item[T]).v)
	}
}

type items[T any] []item[T]

func (h items[T]) Len() int { return len(h) }
func (h items[T]) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].seq < h[j].seq
}
func (h items[T]) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *items[T]) Push(x any)   { *h = append(*h, x.(item[T])) }
func (h *items[T]) Pop() any {
	old := *h
	it := old[len(old)-1]
	var zero item[T]
	old[len(old)-1] = zero // let the GC have the value
	*h = old[:len(old)-1]
	return it
}
