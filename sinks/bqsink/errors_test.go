package bqsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestClassify(t *testing.T) {
	apiErr := func(c codes.Code) error {
		e, ok := apierror.FromError(status.Error(c, "from the server"))
		if !ok {
			t.Fatalf("apierror.FromError(%v) failed", c)
		}
		return e
	}
	gerr := func(code int, reason string) error {
		e := &googleapi.Error{Code: code, Message: "from the server"}
		if reason != "" {
			e.Errors = []googleapi.ErrorItem{{Reason: reason}}
		}
		return e
	}
	tests := []struct {
		name       string
		err        error
		wantKind   errkind.Kind
		wantReason errkind.Reason
	}{
		{"unavailable", status.Error(codes.Unavailable, "x"), errkind.Retryable, "unavailable"},
		{"unavailable_as_apierror", apiErr(codes.Unavailable), errkind.Retryable, "unavailable"},
		{"deadline_from_server", status.Error(codes.DeadlineExceeded, "x"), errkind.Retryable, "deadline_exceeded"},
		{"aborted", status.Error(codes.Aborted, "x"), errkind.Retryable, "aborted"},
		{"internal", apiErr(codes.Internal), errkind.Retryable, "internal"},
		{"resource_exhausted", status.Error(codes.ResourceExhausted, "x"), errkind.Retryable, "resource_exhausted"},
		{"failed_precondition", status.Error(codes.FailedPrecondition, "x"), errkind.Retryable, "failed_precondition"},
		{"invalid_argument", apiErr(codes.InvalidArgument), errkind.Permanent, "invalid_argument"},
		{"not_found", status.Error(codes.NotFound, "x"), errkind.Permanent, "not_found"},
		{"permission_denied", status.Error(codes.PermissionDenied, "x"), errkind.Permanent, "permission_denied"},
		{"unauthenticated", status.Error(codes.Unauthenticated, "x"), errkind.Permanent, "unauthenticated"},
		{"already_exists", status.Error(codes.AlreadyExists, "x"), errkind.Permanent, "already_exists"},
		{"canceled_status", status.Error(codes.Canceled, "x"), errkind.Canceled, "canceled"},
		{"http_503", gerr(http.StatusServiceUnavailable, "backendError"), errkind.Retryable, "backend_error"},
		{"http_429", gerr(http.StatusTooManyRequests, ""), errkind.Retryable, "http_429"},
		{"http_403_rate_limit", gerr(http.StatusForbidden, "rateLimitExceeded"), errkind.Retryable, "rate_limit_exceeded"},
		{"http_403_quota", gerr(http.StatusForbidden, "quotaExceeded"), errkind.Retryable, "quota_exceeded"},
		{"http_403_access_denied", gerr(http.StatusForbidden, "accessDenied"), errkind.Permanent, "access_denied"},
		{"http_404", gerr(http.StatusNotFound, "notFound"), errkind.Permanent, "not_found"},
		{"http_400", gerr(http.StatusBadRequest, "invalid"), errkind.Permanent, "invalid"},
		{"retried_until_deadline", fmt.Errorf("retry failed with %w; last error: %w", context.DeadlineExceeded, gerr(http.StatusServiceUnavailable, "backendError")), errkind.Retryable, "backend_error"},
		{"context_canceled", context.Canceled, errkind.Canceled, errkind.ReasonCanceled},
		{"context_deadline", context.DeadlineExceeded, errkind.Retryable, errkind.ReasonTimeout},
		{"connection_closed", io.EOF, errkind.Retryable, ReasonConnectionClosed},
		{"already_classified", errkind.New(errkind.InvalidInput, "mine", errors.New("x")), errkind.InvalidInput, "mine"},
		{"unknown", errors.New("something"), errkind.Unknown, errkind.ReasonError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("op", tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("classify lost the original error: %v", got)
			}
			if k := errkind.KindOf(got); k != tc.wantKind {
				t.Errorf("kind %v, want %v", k, tc.wantKind)
			}
			if r := errkind.ReasonOf(got); r != tc.wantReason {
				t.Errorf("reason %q, want %q", r, tc.wantReason)
			}
		})
	}
	if classify("op", nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestRounds(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string // response ids; one tenant and version
		valid []int
		want  [][]int
	}{
		{"distinct", []string{"a", "b", "c"}, []int{0, 1, 2}, [][]int{{0, 1, 2}}},
		{"repeat", []string{"a", "b", "a", "a", "c"}, []int{0, 1, 2, 3, 4}, [][]int{{0, 1, 4}, {2}, {3}}},
		{"invalid_left_out", []string{"a", "a", "b"}, []int{1, 2}, [][]int{{1, 2}}},
		{"empty", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := make([]sinks.Result, len(tc.keys))
			for i, k := range tc.keys {
				rows[i] = sinks.Result{Tenant: "t", ResponseID: k, PipelineVersion: "v"}
			}
			got := rounds(rows, tc.valid)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("rounds = %v, want %v", got, tc.want)
			}
		})
	}
}
