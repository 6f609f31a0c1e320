package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
)

var (
	errTransient = errkind.New(errkind.Retryable, "http_503", errors.New("503"))
	errBad       = errkind.New(errkind.Permanent, "http_400", errors.New("400"))
)

func TestDo(t *testing.T) {
	fast := Policy{MaxAttempts: 4, Initial: time.Microsecond, Max: time.Millisecond}
	tests := []struct {
		name      string
		policy    Policy
		results   []error // returned by successive calls; nil after the end
		wantCalls int
		wantErr   error
	}{
		{"success first try", fast, nil, 1, nil},
		{"success after two transient", fast, []error{errTransient, errTransient}, 3, nil},
		{"permanent stops at once", fast, []error{errBad}, 1, errBad},
		{"attempts bounded", fast, []error{errTransient, errTransient, errTransient, errTransient, errTransient}, 4, errTransient},
		{"one attempt", Policy{MaxAttempts: 1}, []error{errTransient}, 1, errTransient},
		{"unknown errors are retried", fast, []error{errors.New("eof")}, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), tc.policy, nil, func(context.Context) error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			}, nil)
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	hint := &errkind.Error{Kind: errkind.Retryable, Reason: "http_429", RetryAfter: 30 * time.Millisecond, Err: errors.New("429")}
	var waits []time.Duration
	calls := 0
	err := Do(context.Background(), Policy{MaxAttempts: 2, Initial: time.Microsecond}, nil, func(context.Context) error {
		calls++
		if calls == 1 {
			return hint
		}
		return nil
	}, func(_ error, d time.Duration) { waits = append(waits, d) })
	if err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] < 30*time.Millisecond {
		t.Fatalf("waits = %v, want one wait ≥ 30ms", waits)
	}
}

func TestContextEndsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, Policy{MaxAttempts: 100, Initial: time.Hour}, nil, func(context.Context) error {
		calls++
		cancel()
		return errTransient
	}, nil)
	if err == nil || calls != 1 {
		t.Fatalf("err = %v after %d calls, want an error after 1", err, calls)
	}
}

func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBreaker(3, time.Second)
	b.now = func() time.Time { return now }
	for range 3 {
		if err := b.Allow(); err != nil {
			t.Fatal("closed breaker refused a call")
		}
		b.Record(errTransient)
	}
	if err := b.Allow(); !errors.Is(err, ErrOpen) || errkind.KindOf(err) != errkind.Retryable {
		t.Fatalf("after 3 failures Allow = %v, want retryable ErrOpen", err)
	}
	// A permanent error does not count against the endpoint.
	b2 := NewBreaker(1, time.Second)
	b2.Record(errBad)
	if b2.Open() {
		t.Fatal("a permanent error opened the breaker")
	}
	// After the cooldown one trial goes through; its failure reopens.
	now = now.Add(time.Second)
	if err := b.Allow(); err != nil {
		t.Fatalf("half-open: %v", err)
	}
	if err := b.Allow(); err == nil {
		t.Fatal("half-open let a second call through during the trial")
	}
	b.Record(errTransient)
	if !b.Open() {
		t.Fatal("failed trial did not reopen")
	}
	now = now.Add(time.Second)
	if err := b.Allow(); err != nil {
		t.Fatal(err)
	}
	b.Record(nil)
	if b.Open() || b.Allow() != nil {
		t.Fatal("successful trial did not close the breaker")
	}
	// An open breaker stops Do without calling fn.
	calls := 0
	open := NewBreaker(1, time.Hour)
	open.Record(errTransient)
	err := Do(context.Background(), Policy{MaxAttempts: 5, Initial: time.Microsecond}, open, func(context.Context) error {
		calls++
		return nil
	}, nil)
	if calls != 0 || !errors.Is(err, ErrOpen) {
		t.Fatalf("open breaker: calls=%d err=%v", calls, err)
	}
	var nilB *Breaker
	if nilB.Allow() != nil || nilB.Open() {
		t.Fatal("nil breaker must never open")
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	day := &errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonRateLimited, RetryAfter: 24 * time.Hour, Err: errors.New("429")}
	tests := []struct {
		name      string
		policy    Policy
		wantWaits int
		wantMax   time.Duration
		wantErr   bool
	}{
		{"capped by max_retry_after", Policy{MaxAttempts: 2, Initial: time.Microsecond, MaxRetryAfter: 5 * time.Millisecond}, 1, 5 * time.Millisecond, false},
		{"capped by backoff max by default", Policy{MaxAttempts: 2, Initial: time.Microsecond, Max: 3 * time.Millisecond}, 1, 3 * time.Millisecond, false},
		// A wait that would end past max_elapsed ends the retries at once
		// rather than sleeping through the budget.
		{"never past max_elapsed", Policy{MaxAttempts: 5, Initial: time.Microsecond, MaxElapsed: 50 * time.Millisecond, MaxRetryAfter: time.Hour}, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waits []time.Duration
			calls := 0
			err := Do(context.Background(), tc.policy, nil, func(context.Context) error {
				calls++
				if calls == 1 {
					return day
				}
				return nil
			}, func(_ error, d time.Duration) { waits = append(waits, d) })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(waits) != tc.wantWaits {
				t.Fatalf("waits = %v, want %d", waits, tc.wantWaits)
			}
			for _, w := range waits {
				if w > tc.wantMax {
					t.Errorf("waited %v, want at most %v", w, tc.wantMax)
				}
			}
		})
	}
}

func TestBreakerOpensAtOnceWhenMisconfigured(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBreaker(5, time.Second)
	b.now = func() time.Time { return now }
	mis := errkind.New(errkind.Misconfigured, endpoint.ReasonNotFound, errors.New("HTTP 404"))
	b.Record(mis)
	if !b.Open() || b.Cause() == nil {
		t.Fatal("one misconfiguration must open the breaker and name itself")
	}
	err := b.Allow()
	if errkind.KindOf(err) != errkind.Misconfigured || errkind.ReasonOf(err) != endpoint.ReasonNotFound {
		t.Errorf("Allow() = %v (%v %q), want the misconfiguration", err, errkind.KindOf(err), errkind.ReasonOf(err))
	}
	now = now.Add(time.Second)
	if err := b.Allow(); err != nil {
		t.Fatalf("no trial after the cooldown: %v", err)
	}
	b.Record(nil)
	if b.Open() || b.Cause() != nil {
		t.Error("a successful trial must close the breaker and clear the cause")
	}
}
