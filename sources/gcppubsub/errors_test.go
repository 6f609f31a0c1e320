package gcppubsub

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		kind   errkind.Kind
		reason errkind.Reason
	}{
		{"unavailable", status.Error(codes.Unavailable, "down"), errkind.Retryable, "unavailable"},
		{"deadline_exceeded", status.Error(codes.DeadlineExceeded, "slow"), errkind.Retryable, "deadline_exceeded"},
		{"resource_exhausted", status.Error(codes.ResourceExhausted, "quota"), errkind.Retryable, "resource_exhausted"},
		{"aborted", status.Error(codes.Aborted, "conflict"), errkind.Retryable, "aborted"},
		{"internal", status.Error(codes.Internal, "oops"), errkind.Retryable, "internal"},
		{"not_found", status.Error(codes.NotFound, "no sub"), errkind.Permanent, "not_found"},
		{"permission_denied", status.Error(codes.PermissionDenied, "iam"), errkind.Permanent, "permission_denied"},
		{"invalid_argument", status.Error(codes.InvalidArgument, "bad"), errkind.Permanent, "invalid_argument"},
		{"failed_precondition", status.Error(codes.FailedPrecondition, "detached"), errkind.Permanent, "failed_precondition"},
		{"unauthenticated", status.Error(codes.Unauthenticated, "no creds"), errkind.Permanent, "unauthenticated"},
		{"unlisted_code", status.Error(codes.DataLoss, "?"), errkind.Unknown, "pubsub_error"},
		{"wrapped_status", fmt.Errorf("publish: %w", status.Error(codes.Unavailable, "down")), errkind.Retryable, "unavailable"},
		{"context_canceled", context.Canceled, errkind.Canceled, "canceled"},
		{"context_deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), errkind.Retryable, "deadline_exceeded"},
		{"publisher_stopped", pubsub.ErrPublisherStopped, errkind.Permanent, "source_closed"},
		{"oversized", pubsub.ErrOversizedMessage, errkind.InvalidInput, "message_too_large"},
		{"publishing_paused", pubsub.ErrPublishingPaused{OrderingKey: "k"}, errkind.Retryable, "publishing_paused"},
		{"plain", errors.New("what"), errkind.Unknown, "pubsub_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("op", tc.err)
			if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != tc.kind || r != tc.reason {
				t.Errorf("classify(%v) = %v %q, want %v %q", tc.err, k, r, tc.kind, tc.reason)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify(%v) does not wrap the original error", tc.err)
			}
		})
	}
	if err := classify("op", pubsub.ErrPublisherStopped); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("a stopped publisher is not ErrClosed: %v", err)
	}
	if classify("op", nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: not cut in half
		{"éé", 3, "é"},
		{"ab", 2, "ab"},
	}
	for _, tc := range cases {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
