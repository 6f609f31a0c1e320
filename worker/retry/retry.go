// Package retry is the worker's one retry layer: bounded exponential backoff
// driven by worker/errkind, honouring a server's Retry-After, with a
// circuit breaker so a dead endpoint fails fast instead of holding every
// job for the whole retry budget. Policy.Backoff is the iterator every
// retrying caller paces itself with; Do and Hold are the loops built on it.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/chorusml/chorus/worker/errkind"
)

// Forever, as Policy.MaxAttempts, bounds the tries by nothing but
// MaxElapsed, the error and ctx: for a loop that must keep going (pulling)
// rather than give up.
const Forever = -1

// NoJitter, as Policy.Jitter, makes every wait exact.
const NoJitter = -1

// Defaults of the zero Policy fields.
const (
	defaultInitial    = 100 * time.Millisecond
	defaultMax        = 2 * time.Second
	defaultMultiplier = 1.5
	defaultJitter     = 0.5
	// minHold is the shortest wait between Hold's rounds, so a policy
	// with a tiny Max does not spin against a sink that is down.
	minHold = 100 * time.Millisecond
)

// Policy bounds one operation's retries.
type Policy struct {
	// MaxAttempts is the most tries, the first included (0 or 1: no
	// retry; Forever: no bound).
	MaxAttempts int
	// Initial and Max bound the exponential backoff between tries;
	// defaults 100ms and 2s.
	Initial, Max time.Duration
	// MaxElapsed bounds the time spent retrying (0: only MaxAttempts).
	MaxElapsed time.Duration
	// MaxRetryAfter caps the wait a server may ask for (Retry-After,
	// RetryInfo): a longer ask waits this long. 0 means Max. A wait that
	// would end past MaxElapsed ends the retries instead.
	MaxRetryAfter time.Duration
	// Multiplier grows each wait from the one before; 0 (or below 1)
	// means 1.5.
	Multiplier float64
	// Jitter spreads each wait evenly over ± this fraction of it, so that
	// clients that failed together do not retry together; 0 means 0.5,
	// NoJitter none, at most 1.
	Jitter float64
}

// normalized returns p with its zero fields defaulted.
func (p Policy) normalized() Policy {
	if p.MaxAttempts == 0 || p.MaxAttempts < Forever {
		p.MaxAttempts = 1
	}
	p.Initial = orDefault(p.Initial, defaultInitial)
	p.Max = max(orDefault(p.Max, defaultMax), p.Initial)
	p.MaxRetryAfter = orDefault(p.MaxRetryAfter, p.Max)
	if p.Multiplier < 1 {
		p.Multiplier = defaultMultiplier
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = defaultJitter
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		p.Jitter = 1
	}
	return p
}

// Wait is the wait before retry n (1: the first) without jitter or
// hints: Initial grown n-1 times by Multiplier, at most Max. It is what a
// Backoff of p centres its nth wait on, and what a caller that counts the
// tries itself (a broker's redelivery attempt) uses as the delay.
func (p Policy) Wait(n int) time.Duration {
	p = p.normalized()
	return p.wait(n)
}

func (p Policy) wait(n int) time.Duration {
	e := p.exponential(backoff.SystemClock)
	d := e.NextBackOff()
	for range max(n, 1) - 1 {
		// The growth is a function of the last wait alone: once a step
		// leaves it as it was (at Max, or with a Multiplier of 1), every
		// later one does too.
		next := e.NextBackOff()
		if next == d {
			break
		}
		d = next
	}
	return d
}

// exponential is the growth of p's waits (p normalized): Initial times
// Multiplier per retry, capped at Max, its elapsed time read from clk.
// The library's growth and clock are used so that this package does not
// keep its own copy of them; its randomization and MaxElapsedTime are
// left off (see Backoff.Next for why).
func (p Policy) exponential(clk backoff.Clock) *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.Initial),
		backoff.WithMultiplier(p.Multiplier),
		backoff.WithMaxInterval(p.Max),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(clk),
	)
}

// Backoff returns an iterator over the waits between tries under p,
// its elapsed-time budget starting now.
func (p Policy) Backoff() *Backoff {
	return p.backoff(systemClock())
}

func (p Policy) backoff(clk clock) *Backoff {
	p = p.normalized()
	return &Backoff{p: p, clk: clk, exp: p.exponential(clockFunc(clk.now))}
}

// Backoff paces the retries of one operation. It is not safe for
// concurrent use: each operation takes its own.
type Backoff struct {
	p       Policy // normalized
	clk     clock
	exp     *backoff.ExponentialBackOff // the unjittered waits and the elapsed time
	retries int
}

// Next returns the wait before the next try, or false when the policy is
// spent: the tries are used up, or the wait would end past MaxElapsed.
// hint is the wait the other side asked for (0: none): when longer than
// the backoff it is waited instead, up to MaxRetryAfter, so that a server
// asking for a day does not hold a batch, or the slot it sits in, for a
// day.
func (b *Backoff) Next(hint time.Duration) (time.Duration, bool) {
	if b.p.MaxAttempts != Forever && b.retries >= b.p.MaxAttempts-1 {
		return 0, false
	}
	b.retries++
	elapsed := b.exp.GetElapsedTime()
	d := b.jittered(b.exp.NextBackOff())
	// The budget is checked here, not by the library's MaxElapsedTime,
	// because it must judge the jittered wait, which the library does not
	// see (see jittered).
	if b.p.MaxElapsed > 0 && elapsed+d > b.p.MaxElapsed {
		return 0, false
	}
	if hint = min(hint, b.p.MaxRetryAfter); hint <= d {
		return d, true
	}
	if b.p.MaxElapsed > 0 && elapsed+hint > b.p.MaxElapsed {
		return 0, false
	}
	return hint, true
}

// jittered spreads d over [d-δ, d+δ], δ = Jitter × d. It is the spread
// of backoff's RandomizationFactor, drawn here because backoff v4 draws
// from the global math/rand, which the clock's rand cannot replace; a
// test could not fix the draw.
func (b *Backoff) jittered(d time.Duration) time.Duration {
	if b.p.Jitter == 0 {
		return d
	}
	delta := b.p.Jitter * float64(d)
	lo, hi := float64(d)-delta, float64(d)+delta
	return time.Duration(lo + b.clk.rand()*(hi-lo+1))
}

// clock is what the retry loops read the time, sleep and draw jitter
// with; tests swap it for a fake one.
type clock struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64 // in [0, 1)
}

func systemClock() clock {
	return clock{now: time.Now, sleep: sleep, rand: rand.Float64}
}

// clockFunc is a clock's now as a backoff.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// sleep waits d or until ctx ends, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Do runs fn until it succeeds, returns an error that is not retryable,
// the policy is spent, ctx ends or the breaker is open. notify, if not nil,
// is called before each wait.
func Do(ctx context.Context, p Policy, br *Breaker, fn func(context.Context) error, notify func(err error, wait time.Duration)) error {
	return do(ctx, systemClock(), p, br, fn, notify)
}

func do(ctx context.Context, clk clock, p Policy, br *Breaker, fn func(context.Context) error, notify func(err error, wait time.Duration)) error {
	b := p.backoff(clk)
	var last error
	for {
		if err := br.Allow(); err != nil {
			if last != nil {
				err = errors.Join(err, last)
			}
			return err
		}
		err := fn(ctx)
		br.Record(err)
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil || !errkind.IsRetryable(err) {
			return err
		}
		hint, _ := errkind.RetryAfterOf(err)
		d, ok := b.Next(hint)
		if !ok {
			return err
		}
		if notify != nil {
			notify(err, d)
		}
		if err := clk.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Hold is Do for a write that must not be dropped: when a round of the
// policy is spent on a known transient fault (kind Retryable), it calls
// held, waits the policy's Max (at least 100ms) and starts another round,
// until fn succeeds, fails in another way, or ctx ends. An error nobody
// classified (kind Unknown) is not held: it may be the data's fault, and
// held forever it would stall every caller behind it. held, if not nil,
// is called before each wait between rounds.
func Hold(ctx context.Context, p Policy, br *Breaker, fn func(context.Context) error, notify, held func(err error, wait time.Duration)) error {
	return hold(ctx, systemClock(), p, br, fn, notify, held)
}

func hold(ctx context.Context, clk clock, p Policy, br *Breaker, fn func(context.Context) error, notify, held func(err error, wait time.Duration)) error {
	wait := max(p.normalized().Max, minHold)
	for {
		err := do(ctx, clk, p, br, fn, notify)
		if err == nil || errkind.KindOf(err) != errkind.Retryable || ctx.Err() != nil {
			return err
		}
		if held != nil {
			held(err, wait)
		}
		// Whether the wait ends or ctx does, the next round makes one
		// more try: its error, not ctx's, says why the write failed.
		_ = clk.sleep(ctx, wait)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ReasonBreakerOpen labels ErrOpen.
const ReasonBreakerOpen errkind.Reason = "breaker_open"

// ErrOpen is returned (wrapped as Retryable, ReasonBreakerOpen) while a
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
	return errkind.New(errkind.Retryable, ReasonBreakerOpen, ErrOpen)
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
