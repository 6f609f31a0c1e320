// Package wake is how a source driver wakes what blocks on its state: a
// Receive waiting for messages, a poller waiting for room, a publisher
// waiting for backlog space. Waiters take a channel under the driver's
// lock; any change that may unblock them closes it.
package wake

import (
	"context"
	"time"
)

// Signal is a broadcast channel, remade after each broadcast. The zero
// value is ready. Not safe for concurrent use: the driver holds its own
// lock around Chan and Broadcast, which is what makes a change and its
// wake-up atomic for the waiter.
type Signal struct{ ch chan struct{} }

// Chan returns the channel the next Broadcast closes. The channel is only
// made when someone waits, so a driver's fast path allocates nothing.
func (s *Signal) Chan() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes every waiter.
func (s *Signal) Broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Timer bounds the waits of one blocking call that waits in rounds (a
// Receive that looks again after each wake-up), reusing one timer for all
// of them. The zero value is ready; call Stop when the call returns.
type Timer struct{ t *time.Timer }

// Wait blocks until ctx is done, wake is closed or d has passed, and
// reports whether d passed.
func (t *Timer) Wait(ctx context.Context, wake <-chan struct{}, d time.Duration) (expired bool) {
	if t.t == nil {
		t.t = time.NewTimer(d)
	} else {
		t.t.Reset(d)
	}
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.t.C:
		return true
	}
	return false
}

// Stop releases the timer.
func (t *Timer) Stop() {
	if t.t != nil {
		t.t.Stop()
	}
}
