// Package retry is the worker's one retry layer: bounded exponential backoff
// (github.com/cenkalti/backoff/v4) driven by worker/errkind, honouring a
// server's Retry-After, with a circuit breaker so a dead endpoint fails fast
// instead of holding every job for the whole retry budget.
package retry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/chorusml/chorus/worker/errkind"
)

// Policy bounds one operation's retries.
type Policy struct {
	// MaxAttempts is the most tries, the first included (1: no retry).
	MaxAttempts int
	// Initial and Max bound the exponential backoff between tries.
	Initial, Max time.Duration
	// MaxElapsed bounds the time spent retrying (0: only MaxAttempts).
	MaxElapsed time.Duration
	// MaxRetryAfter caps the wait a server may ask for (Retry-After,
	// RetryInfo): a longer ask waits this long. 0 means Max. A wait that
	// would end past MaxElapsed ends the retries instead.
	MaxRetryAfter time.Duration
}

// Do runs fn until it succeeds, returns an error that is not retryable,
// the policy is spent, ctx ends or the breaker is open. notify, if not nil,
// is called before each wait.
func Do(ctx context.Context, p Policy, br *Breaker, fn func(context.Context) error, notify func(err error, wait time.Duration)) error {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = orDefault(p.Initial, 100*time.Millisecond)
	eb.MaxInterval = orDefault(p.Max, 2*time.Second)
	eb.MaxElapsedTime = p.MaxElapsed
	hinted := &hintBackOff{BackOff: eb, cap: orDefault(p.MaxRetryAfter, eb.MaxInterval), maxElapsed: p.MaxElapsed, start: time.Now()}
	var b backoff.BackOff = backoff.WithMaxRetries(hinted, uint64(p.MaxAttempts-1))
	b = backoff.WithContext(b, ctx)

	var last error
	op := func() error {
		if err := br.Allow(); err != nil {
			if last != nil {
				err = errors.Join(err, last)
			}
			return backoff.Permanent(err)
		}
		err := fn(ctx)
		br.Record(err)
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil || !errkind.IsRetryable(err) {
			return backoff.Permanent(err)
		}
		hinted.hint, _ = errkind.RetryAfterOf(err)
		return err
	}
	return backoff.RetryNotify(op, b, notify)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// hintBackOff waits at least as long as the server asked (Retry-After),
// up to cap, and never past maxElapsed: a server asking for a day must not
// hold a batch, or the slot it sits in, for a day.
type hintBackOff struct {
	backoff.BackOff
	hint       time.Duration
	cap        time.Duration
	maxElapsed time.Duration
	start      time.Time
}

func (h *hintBackOff) NextBackOff() time.Duration {
	d := h.BackOff.NextBackOff()
	hint := min(h.hint, h.cap)
	h.hint = 0
	if d == backoff.Stop || hint <= d {
		return d
	}
	if h.maxElapsed > 0 && time.Since(h.start)+hint > h.maxElapsed {
		return backoff.Stop
	}
	return hint
}

// ErrOpen is returned (wrapped as Retryable, reason "breaker_open") while a
// breaker is open.
var ErrOpen = errors.New("circuit breaker open")

// Breaker opens after Failures consecutive retryable failures and lets one
// trial call through after Cooldown. A nil *Breaker never opens. Safe for
// concurrent use.
type Breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu       sync.Mutex
	run      int // consecutive failures
	openedAt time.Time
	open     bool
	trial    bool  // a half-open trial is in progress
	cause    error // the Misconfigured error that opened it, if one did
}

// NewBreaker returns a breaker, or nil (never opens) when failures ≤ 0.
func NewBreaker(failures int, cooldown time.Duration) *Breaker {
	if failures <= 0 {
		return nil
	}
	return &Breaker{failures: failures, cooldown: orDefault(cooldown, 5*time.Second), now: time.Now}
}

// Allow reports whether a call may go ahead.
func (b *Breaker) Allow() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	if b.now().Sub(b.openedAt) >= b.cooldown && !b.trial {
		b.trial = true
		return nil
	}
	if b.cause != nil {
		return &errkind.Error{Kind: errkind.Misconfigured, Reason: errkind.ReasonOf(b.cause), Err: fmt.Errorf("%w: %w", ErrOpen, b.cause)}
	}
	return errkind.New(errkind.Retryable, "breaker_open", ErrOpen)
}

// Record notes a call's outcome. Only retryable failures count against the
// endpoint: a 4xx for one bad batch says nothing about its health.
func (b *Breaker) Record(err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.run, b.open, b.trial, b.cause = 0, false, false, nil
	case errkind.KindOf(err) == errkind.Misconfigured:
		// Every call will fail the same way: stop calling now, and let a
		// trial through after the cooldown to see whether it was fixed.
		b.open, b.trial, b.openedAt, b.cause = true, false, b.now(), err
	case errkind.IsRetryable(err) && errkind.KindOf(err) != errkind.Canceled:
		b.run++
		if b.trial || b.run >= b.failures {
			b.open, b.trial, b.openedAt, b.cause = true, false, b.now(), nil
		}
	default:
		b.trial = false
	}
}

// Cause returns the Misconfigured error that holds the breaker open, or
// nil when it is closed or was opened by transient failures.
func (b *Breaker) Cause() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	return b.cause
}

// Open reports whether the breaker is open now (for readiness and metrics).
func (b *Breaker) Open() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
