package retry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/errkind"
)

// fakeClock sleeps by moving its time on and records the waits; its
// jitter draw is fixed, so waits are exact.
type fakeClock struct {
	t      time.Time
	waits  []time.Duration
	draw   float64
	cancel func() // if set, called by the sleep numbered cancelAt (1-based)
	at     int
}

func (f *fakeClock) clock() clock {
	return clock{
		now: func() time.Time { return f.t },
		sleep: func(ctx context.Context, d time.Duration) error {
			f.waits = append(f.waits, d)
			if f.cancel != nil && len(f.waits) == f.at {
				f.cancel()
				return ctx.Err()
			}
			f.t = f.t.Add(d)
			return nil
		},
		rand: func() float64 { return f.draw },
	}
}

const ms = time.Millisecond

func TestBackoffNext(t *testing.T) {
	exact := Policy{MaxAttempts: Forever, Initial: 200 * ms, Max: 10 * time.Second, Multiplier: 2, Jitter: NoJitter}
	tests := []struct {
		name   string
		policy Policy
		draw   float64
		step   time.Duration // the clock moves this much before each Next
		hints  []time.Duration
		want   []time.Duration // the waits Next gives before it says false
		spent  bool            // whether Next said false after want
	}{
		{"defaults: 1.5x from 100ms, no retry", Policy{}, 0.5, 0, nil, nil, true},
		{"defaults grow 1.5x to 2s", Policy{MaxAttempts: 10, Jitter: NoJitter}, 0, 0, nil,
			[]time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond, 506250 * time.Microsecond,
				759375 * time.Microsecond, 1139062500, 1708593750, 2 * time.Second}, true},
		{"doubling capped, forever", exact, 0, 0, nil,
			[]time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}, false},
		{"jitter low end", Policy{MaxAttempts: 3, Initial: 100 * ms, Max: time.Second}, 0, 0, nil,
			[]time.Duration{50 * ms, 75 * ms}, true},
		{"jitter high end", Policy{MaxAttempts: 3, Initial: 100 * ms, Max: time.Second, Jitter: 0.2}, 0.999999999, 0, nil,
			[]time.Duration{120 * ms, 180 * ms}, true},
		{"max elapsed ends it", Policy{MaxAttempts: 10, Initial: 100 * ms, Max: 100 * ms, MaxElapsed: 250 * ms, Jitter: NoJitter}, 0, 100 * ms, nil,
			[]time.Duration{100 * ms}, true},
		{"hint longer than backoff is waited", Policy{MaxAttempts: 3, Initial: ms, Max: time.Second, Jitter: NoJitter}, 0, 0,
			[]time.Duration{300 * ms, 0}, []time.Duration{300 * ms, 1500 * time.Microsecond}, true},
		{"hint shorter than backoff is not", Policy{MaxAttempts: 2, Initial: 100 * ms, Jitter: NoJitter}, 0, 0,
			[]time.Duration{ms}, []time.Duration{100 * ms}, true},
		{"hint capped by max", Policy{MaxAttempts: 2, Initial: ms, Max: 3 * ms, Jitter: NoJitter}, 0, 0,
			[]time.Duration{time.Hour}, []time.Duration{3 * ms}, true},
		{"hint capped by max_retry_after", Policy{MaxAttempts: 2, Initial: ms, Max: 3 * ms, MaxRetryAfter: time.Second, Jitter: NoJitter}, 0, 0,
			[]time.Duration{time.Hour}, []time.Duration{time.Second}, true},
		{"hint past max_elapsed ends it", Policy{MaxAttempts: 5, Initial: ms, MaxElapsed: 50 * ms, MaxRetryAfter: time.Hour}, 0, 0,
			[]time.Duration{time.Hour}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeClock{t: time.Unix(0, 0), draw: tc.draw}
			b := tc.policy.backoff(f.clock())
			var got []time.Duration
			for i := range len(tc.want) + 1 {
				f.t = f.t.Add(tc.step)
				var hint time.Duration
				if i < len(tc.hints) {
					hint = tc.hints[i]
				}
				d, ok := b.Next(hint)
				if !ok {
					if !tc.spent {
						t.Fatalf("spent after %v, want it to go on", got)
					}
					break
				}
				got = append(got, d)
			}
			if !tc.spent {
				got = got[:len(tc.want)]
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("waits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyWait(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Minute, Multiplier: 2}
	tests := []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {1000, time.Minute}}
	for _, tc := range tests {
		if got := p.Wait(tc.n); got != tc.want {
			t.Errorf("Wait(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestDoWaits(t *testing.T) {
	hinted := &errkind.Error{Kind: errkind.Retryable, Reason: "http_429", RetryAfter: 500 * ms, Err: errors.New("429")}
	p := Policy{MaxAttempts: 4, Initial: 10 * ms, Max: time.Second, Multiplier: 2, Jitter: NoJitter}
	tests := []struct {
		name      string
		results   []error
		cancelAt  int // cancel ctx during this sleep (0: never)
		wantWaits []time.Duration
		wantErr   error
	}{
		{"backoff between tries", []error{errTransient, errTransient}, 0, []time.Duration{10 * ms, 20 * ms}, nil},
		{"hint between tries", []error{errTransient, hinted}, 0, []time.Duration{10 * ms, 500 * ms}, nil},
		{"spent", []error{errTransient, errTransient, errTransient, errTransient}, 0, []time.Duration{10 * ms, 20 * ms, 40 * ms}, errTransient},
		{"ctx ends during a wait", []error{errTransient, errTransient}, 1, []time.Duration{10 * ms}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeClock{t: time.Unix(0, 0), cancel: cancel, at: tc.cancelAt}
			if tc.cancelAt == 0 {
				f.cancel = nil
			}
			var notified []time.Duration
			calls := 0
			err := do(ctx, f.clock(), p, nil, func(context.Context) error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			}, func(_ error, d time.Duration) { notified = append(notified, d) })
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(f.waits, tc.wantWaits) || !slices.Equal(notified, tc.wantWaits) {
				t.Errorf("slept %v, notified %v, want %v", f.waits, notified, tc.wantWaits)
			}
		})
	}
}

func TestHold(t *testing.T) {
	p := Policy{MaxAttempts: 2, Initial: 10 * ms, Max: 20 * ms, Multiplier: 2, Jitter: NoJitter}
	unknown := errors.New("eof")
	tests := []struct {
		name      string
		results   []error
		cancelAt  int
		wantCalls int
		wantWaits []time.Duration
		wantHeld  int
		wantErr   error
	}{
		{"success", nil, 0, 1, nil, 0, nil},
		// Two rounds of two tries, a hold wait of max(Max, 100ms) between.
		{"held through two rounds", []error{errTransient, errTransient, errTransient, errTransient}, 0, 5,
			[]time.Duration{10 * ms, 100 * ms, 10 * ms, 100 * ms}, 2, nil},
		{"unknown is not held", []error{unknown, unknown}, 0, 2, []time.Duration{10 * ms}, 0, unknown},
		{"permanent is not held", []error{errBad}, 0, 1, nil, 0, errBad},
		// Cancelled during the hold wait, one more try ends it with its
		// own error.
		{"ctx ends during the hold", []error{errTransient, errTransient, errTransient}, 2, 3,
			[]time.Duration{10 * ms, 100 * ms}, 1, errTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fakeClock{t: time.Unix(0, 0), cancel: cancel, at: tc.cancelAt}
			if tc.cancelAt == 0 {
				f.cancel = nil
			}
			calls, held := 0, 0
			err := hold(ctx, f.clock(), p, nil, func(context.Context) error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			}, nil, func(error, time.Duration) { held++ })
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls || held != tc.wantHeld || !slices.Equal(f.waits, tc.wantWaits) {
				t.Errorf("calls %d held %d waits %v; want %d, %d, %v", calls, held, f.waits, tc.wantCalls, tc.wantHeld, tc.wantWaits)
			}
		})
	}
}
