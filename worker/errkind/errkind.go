// Package errkind classifies errors so that every layer above a driver can
// decide between retry, dead-letter and stop without reading error text.
//
// Drivers and adapters wrap what they see with New; callers branch on KindOf.
// Retry lives in one place (the worker), so a driver never loops on its own.
package errkind

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Kind says what a caller may do about an error.
type Kind int

const (
	// Unknown errors are treated as retryable by the worker: losing data is
	// worse than retrying a bounded number of times.
	Unknown Kind = iota
	// Retryable: the same request may succeed later (5xx, 429, timeouts,
	// connection loss, serialization failures).
	Retryable
	// Permanent: the same request will fail again; retrying wastes capacity.
	Permanent
	// InvalidInput: the job itself is bad (malformed, oversized, unknown
	// tenant). It is dead-lettered on first delivery.
	InvalidInput
	// Canceled: the caller gave up (context canceled or shutdown).
	Canceled
	// Misconfigured: the remote side and Chorus's config disagree in a way
	// no retry can fix (a wrong tensor name, an unknown label set, 401,
	// 404). Every call fails the same way until someone changes one side,
	// so the caller stops calling and says what to fix instead of cycling
	// the work through retries and redeliveries.
	Misconfigured
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case InvalidInput:
		return "invalid_input"
	case Canceled:
		return "canceled"
	case Misconfigured:
		return "misconfigured"
	default:
		return "unknown"
	}
}

// Reason is a machine-readable cause: snake_case and stable, because it is
// a metric label and a dead-letter attribute. Each package names the
// reasons it produces as constants, so that a caller matching one matches
// the producer's constant rather than a copy of its spelling.
type Reason string

// The reasons errkind itself reports, for errors that carry none.
const (
	// ReasonCanceled: the caller gave up (context canceled or shutdown).
	ReasonCanceled Reason = "canceled"
	// ReasonTimeout: a deadline passed or a network operation timed out.
	ReasonTimeout Reason = "timeout"
	// ReasonError: nothing more is known. A retryable error with no
	// reason of its own gets this too, unless it is a timeout: retryable
	// is not the same as timed out.
	ReasonError Reason = "error"
)

// Error carries a Kind and a Reason.
type Error struct {
	Kind   Kind
	Reason Reason
	// RetryAfter, when > 0, is how long the remote side asked us to wait
	// (HTTP 429/503 Retry-After).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	if e.Reason == "" {
		return e.Err.Error()
	}
	return string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New wraps err with a kind and reason.
func New(kind Kind, reason Reason, err error) error {
	return &Error{Kind: kind, Reason: reason, Err: err}
}

// Errorf is New with a formatted message.
func Errorf(kind Kind, reason Reason, format string, args ...any) error {
	return &Error{Kind: kind, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// KindOf reports the kind of err. Context cancellation is Canceled; a net
// timeout or a deadline is Retryable; an unclassified error is Unknown.
func KindOf(err error) Kind {
	if err == nil {
		return Unknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Retryable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return Retryable
	}
	return Unknown
}

// ReasonOf returns the reason of the outermost *Error in err's chain. When
// that has none (or there is no *Error), the reason follows from the kind
// and the cause: ReasonCanceled for Canceled, ReasonTimeout for a Retryable
// error that is a deadline or a net.Error timeout, and ReasonError for
// everything else, nil included.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	switch KindOf(err) {
	case Canceled:
		return ReasonCanceled
	case Retryable:
		if timedOut(err) {
			return ReasonTimeout
		}
	}
	return ReasonError
}

// HasReason reports whether ReasonOf(err) is reason.
func HasReason(err error, reason Reason) bool { return ReasonOf(err) == reason }

// timedOut reports whether err is a deadline or a network timeout.
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RetryAfterOf returns the wait the remote side asked for, if any.
func RetryAfterOf(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsRetryable reports whether retrying err may help. Unknown counts as
// retryable; the retry budget bounds the cost. A nil error is not: there is
// nothing to retry.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	k := KindOf(err)
	return k == Retryable || k == Unknown
}
