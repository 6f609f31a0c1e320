package bqsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons (errkind) of the errors this package makes itself; errors from
// BigQuery carry the gRPC code or the googleapi reason in snake_case
// ("unavailable", "not_found", "rate_limit_exceeded").
const (
	// ReasonInvalidRow: a row failed the driver's own checks (empty key
	// field, non-finite score) and was never sent.
	ReasonInvalidRow = sinks.ReasonInvalidRow
	// ReasonRowRejected: BigQuery rejected the row (AppendRowsResponse
	// row_errors).
	ReasonRowRejected errkind.Reason = "row_rejected"
	// ReasonTableMismatch: the table exists but is not one this driver can
	// write idempotently (no primary key, missing or retyped columns).
	ReasonTableMismatch errkind.Reason = "table_mismatch"
	// ReasonBadOptions: Options are incomplete.
	ReasonBadOptions errkind.Reason = "bad_options"
	// ReasonTableNotFound: the table does not exist (run migrate).
	ReasonTableNotFound errkind.Reason = "table_not_found"
	// ReasonConnectionClosed: the append stream ended (io.EOF).
	ReasonConnectionClosed errkind.Reason = "connection_closed"
)

// grpcKind is the classification table for gRPC status codes, from the
// Storage Write API: what may succeed if the same append is sent again.
func grpcKind(c codes.Code) errkind.Kind {
	switch c {
	case codes.Canceled:
		return errkind.Canceled
	case codes.DeadlineExceeded, // the server gave up; the append may or may not have landed
		codes.Unavailable,        // connection lost, server restarting
		codes.Aborted,            // concurrency conflict, retry the sequence
		codes.Internal,           // server error
		codes.ResourceExhausted,  // quota or throughput limit
		codes.FailedPrecondition, // transient state (the client library retries it too)
		codes.Unknown,            // no information: losing data is worse than a retry
		codes.DataLoss:
		return errkind.Retryable
	case codes.InvalidArgument, // schema mismatch, request too large
		codes.NotFound,         // no such table
		codes.AlreadyExists,    // offset already written (explicit streams only)
		codes.OutOfRange,       // offset beyond the end (explicit streams only)
		codes.PermissionDenied, // IAM
		codes.Unauthenticated,  // credentials
		codes.Unimplemented:
		return errkind.Permanent
	default:
		return errkind.Unknown
	}
}

// httpKind is the classification table for googleapi errors from the REST
// API (tables, datasets, queries).
func httpKind(e *googleapi.Error) errkind.Kind {
	switch {
	case e.Code == http.StatusTooManyRequests, e.Code == http.StatusRequestTimeout, e.Code >= 500:
		return errkind.Retryable
	case e.Code == http.StatusForbidden && hasReason(e, "rateLimitExceeded", "quotaExceeded", "backendError"):
		return errkind.Retryable
	case e.Code >= 400:
		return errkind.Permanent
	default:
		return errkind.Unknown
	}
}

func hasReason(e *googleapi.Error, reasons ...string) bool {
	for _, item := range e.Errors {
		for _, r := range reasons {
			if item.Reason == r {
				return true
			}
		}
	}
	return false
}

// classify wraps err from a BigQuery call with its errkind through the
// tables above.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("bqsink: %s: %w", op, err)
	var (
		ke *errkind.Error
		ge *googleapi.Error
	)
	switch {
	case errors.As(err, &ke), errors.Is(err, context.Canceled):
		// Classified already, or the caller gave up (errkind.KindOf
		// reads cancellation itself).
		return wrapped
	case errors.As(err, &ge):
		// Before the deadline case: the REST client wraps the last error
		// it retried with the context's.
		reason := errkind.Reason("http_" + fmt.Sprint(ge.Code))
		if len(ge.Errors) > 0 && ge.Errors[0].Reason != "" {
			reason = errkind.Reason(snake(ge.Errors[0].Reason))
		}
		return errkind.New(httpKind(ge), reason, wrapped)
	case errors.Is(err, context.DeadlineExceeded):
		return wrapped
	case errors.Is(err, io.EOF):
		return errkind.New(errkind.Retryable, ReasonConnectionClosed, wrapped)
	}
	if st, ok := status.FromError(err); ok {
		return errkind.New(grpcKind(st.Code()), errkind.Reason(snake(st.Code().String())), wrapped)
	}
	return wrapped
}

// isNotFound reports whether err is a 404 or NotFound.
func isNotFound(err error) bool { return httpCode(err) == http.StatusNotFound }

// isConflict reports whether err is a 409 (already exists).
func isConflict(err error) bool { return httpCode(err) == http.StatusConflict }

func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// snake turns "NotFound", "rateLimitExceeded" or "Unavailable" into
// "not_found", "rate_limit_exceeded", "unavailable".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
