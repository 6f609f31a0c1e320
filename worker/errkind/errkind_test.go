package errkind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// netErr is a net.Error whose Timeout is set by the test.
type netErr struct{ timeout bool }

func (e netErr) Error() string   { return fmt.Sprintf("net error (timeout %v)", e.timeout) }
func (e netErr) Timeout() bool   { return e.timeout }
func (e netErr) Temporary() bool { return false }

var _ net.Error = netErr{}

func TestClassify(t *testing.T) {
	plain := errors.New("boom")
	tests := []struct {
		name       string
		err        error
		kind       Kind
		reason     Reason
		retryable  bool
		retryAfter time.Duration
	}{
		{"nil", nil, Unknown, ReasonError, false, 0},
		{"plain", plain, Unknown, ReasonError, true, 0},
		{"wrapped plain", fmt.Errorf("op: %w", plain), Unknown, ReasonError, true, 0},
		{"canceled", context.Canceled, Canceled, ReasonCanceled, false, 0},
		{"wrapped canceled", fmt.Errorf("op: %w", context.Canceled), Canceled, ReasonCanceled, false, 0},
		{"deadline", context.DeadlineExceeded, Retryable, ReasonTimeout, true, 0},
		{"wrapped deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), Retryable, ReasonTimeout, true, 0},
		{"net timeout", fmt.Errorf("dial: %w", netErr{timeout: true}), Retryable, ReasonTimeout, true, 0},
		// Retryable, but it did not time out.
		{"net error", fmt.Errorf("dial: %w", netErr{}), Retryable, ReasonError, true, 0},
		{"error", New(Permanent, "bad_thing", plain), Permanent, "bad_thing", false, 0},
		{"wrapped error", fmt.Errorf("op: %w", New(InvalidInput, "bad_job", plain)), InvalidInput, "bad_job", false, 0},
		{"misconfigured", Errorf(Misconfigured, "not_found", "no model %q", "m"), Misconfigured, "not_found", false, 0},
		{"unknown error", New(Unknown, "odd", plain), Unknown, "odd", true, 0},
		{"canceled error", New(Canceled, "shutdown", plain), Canceled, "shutdown", false, 0},
		{"retry after", &Error{Kind: Retryable, Reason: "rate_limited", RetryAfter: 3 * time.Second, Err: plain}, Retryable, "rate_limited", true, 3 * time.Second},
		{"nested: outermost wins", New(Permanent, "outer", New(Retryable, "inner", context.DeadlineExceeded)), Permanent, "outer", false, 0},
		{"nested: outermost retry after", &Error{Kind: Retryable, Reason: "outer", Err: &Error{Kind: Retryable, Reason: "inner", RetryAfter: time.Second}}, Retryable, "outer", true, 0},
		// An *Error with no reason takes one from its kind and cause.
		{"no reason, retryable", &Error{Kind: Retryable, Err: plain}, Retryable, ReasonError, true, 0},
		{"no reason, retryable deadline", &Error{Kind: Retryable, Err: context.DeadlineExceeded}, Retryable, ReasonTimeout, true, 0},
		{"no reason, retryable net timeout", &Error{Kind: Retryable, Err: netErr{timeout: true}}, Retryable, ReasonTimeout, true, 0},
		{"no reason, permanent deadline", &Error{Kind: Permanent, Err: context.DeadlineExceeded}, Permanent, ReasonError, false, 0},
		{"no reason, canceled", &Error{Kind: Canceled}, Canceled, ReasonCanceled, false, 0},
		{"no reason, invalid input", &Error{Kind: InvalidInput, Err: plain}, InvalidInput, ReasonError, false, 0},
		// The outermost *Error's kind decides, whatever it wraps.
		{"retryable wraps canceled", New(Retryable, "", context.Canceled), Retryable, ReasonError, true, 0},
		{"no reason wraps reason", &Error{Kind: Permanent, Err: New(Retryable, "inner", plain)}, Permanent, ReasonError, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k := KindOf(tt.err); k != tt.kind {
				t.Errorf("KindOf = %v, want %v", k, tt.kind)
			}
			if r := ReasonOf(tt.err); r != tt.reason {
				t.Errorf("ReasonOf = %q, want %q", r, tt.reason)
			}
			if !HasReason(tt.err, tt.reason) {
				t.Errorf("HasReason(%q) = false, want true", tt.reason)
			}
			if HasReason(tt.err, "other") {
				t.Errorf(`HasReason("other") = true, want false`)
			}
			if r := IsRetryable(tt.err); r != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", r, tt.retryable)
			}
			ra, ok := RetryAfterOf(tt.err)
			if ra != tt.retryAfter || ok != (tt.retryAfter > 0) {
				t.Errorf("RetryAfterOf = %v, %v; want %v, %v", ra, ok, tt.retryAfter, tt.retryAfter > 0)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"reason and cause", New(Permanent, "bad_spec", errors.New("no url")), "bad_spec: no url"},
		{"reason only", &Error{Kind: Permanent, Reason: "bad_spec"}, "bad_spec"},
		{"cause only", &Error{Kind: Retryable, Err: errors.New("reset")}, "reset"},
		{"neither", &Error{Kind: Retryable}, ""},
		{"errorf", Errorf(InvalidInput, "too_many_jobs", "%d jobs, max %d", 9, 8), "too_many_jobs: 9 jobs, max 8"},
		{"nested", New(Permanent, "outer", New(Retryable, "inner", errors.New("x"))), "outer: inner: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := fmt.Errorf("op: %w", New(Retryable, "r", cause))
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, cause) = false, want true", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != "r" || e.Kind != Retryable {
		t.Errorf("errors.As(%v) = %+v, want the *Error", err, e)
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{Unknown, "unknown"},
		{Retryable, "retryable"},
		{Permanent, "permanent"},
		{InvalidInput, "invalid_input"},
		{Canceled, "canceled"},
		{Misconfigured, "misconfigured"},
		{Kind(99), "unknown"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.kind), got, tt.want)
		}
	}
}
