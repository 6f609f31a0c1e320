package gcppubsub

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons this driver gives its errors beyond the gRPC codes' (errkind
// reasons, stable).
const (
	// ReasonDeadlineExceeded: the call's deadline passed.
	ReasonDeadlineExceeded errkind.Reason = "deadline_exceeded"
	// ReasonPublishingPaused: an ordering key's publishing is paused after
	// an earlier failure on that key.
	ReasonPublishingPaused errkind.Reason = "publishing_paused"
	// ReasonPubSubError: an error nothing else classifies.
	ReasonPubSubError errkind.Reason = "pubsub_error"
	// ReasonAckFailed: the server refused acks or nacks.
	ReasonAckFailed errkind.Reason = "ack_failed"
	// ReasonNoDeadLetterTopic: DeadLetter with no dead-letter topic set.
	ReasonNoDeadLetterTopic errkind.Reason = "no_dead_letter_topic"
)

// codeKind is how a gRPC status code maps onto errkind. The worker retries
// Retryable errors with backoff and stops on Permanent ones, so a code only
// goes in the Retryable column when the same call can succeed later.
type codeKind struct {
	kind   errkind.Kind
	reason errkind.Reason
}

// grpcKinds classifies the status codes the Pub/Sub API returns. Codes not
// listed are Unknown, which the worker treats as retryable within its
// budget: losing data is worse than a bounded number of retries.
var grpcKinds = map[codes.Code]codeKind{
	codes.Unavailable:        {errkind.Retryable, "unavailable"},
	codes.DeadlineExceeded:   {errkind.Retryable, ReasonDeadlineExceeded},
	codes.ResourceExhausted:  {errkind.Retryable, "resource_exhausted"},
	codes.Aborted:            {errkind.Retryable, "aborted"},
	codes.Internal:           {errkind.Retryable, "internal"},
	codes.NotFound:           {errkind.Permanent, "not_found"},
	codes.PermissionDenied:   {errkind.Permanent, "permission_denied"},
	codes.InvalidArgument:    {errkind.Permanent, "invalid_argument"},
	codes.FailedPrecondition: {errkind.Permanent, "failed_precondition"},
	// Bad or missing credentials do not fix themselves between retries.
	codes.Unauthenticated: {errkind.Permanent, "unauthenticated"},
	codes.Canceled:        {errkind.Canceled, "canceled"},
}

// classify wraps err from operation op with its errkind. Context errors
// keep their usual meaning (Canceled, Retryable); everything else goes
// through grpcKinds.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("gcppubsub: %s: %w", op, err)
	var paused pubsub.ErrPublishingPaused
	switch {
	case errors.Is(err, context.Canceled):
		return errkind.New(errkind.Canceled, errkind.ReasonCanceled, wrapped)
	case errors.Is(err, context.DeadlineExceeded):
		return errkind.New(errkind.Retryable, ReasonDeadlineExceeded, wrapped)
	case errors.Is(err, pubsub.ErrPublisherStopped):
		return errkind.New(errkind.Permanent, sources.ReasonSourceClosed, fmt.Errorf("gcppubsub: %s: %w: %w", op, sources.ErrClosed, err))
	case errors.Is(err, pubsub.ErrOversizedMessage):
		return errkind.New(errkind.InvalidInput, sources.ReasonMessageTooLarge, wrapped)
	case errors.As(err, &paused):
		// An earlier publish with this ordering key failed; the publisher
		// resumes the key before it returns, so a retry can go through.
		return errkind.New(errkind.Retryable, ReasonPublishingPaused, wrapped)
	}
	if st, ok := status.FromError(err); ok {
		if ck, ok := grpcKinds[st.Code()]; ok {
			return errkind.New(ck.kind, errkind.Reason(ck.reason), wrapped)
		}
	}
	return errkind.New(errkind.Unknown, ReasonPubSubError, wrapped)
}

func errClosed(op string) error { return contract.ErrClosed("gcppubsub", op) }

// Classify wraps err from the Pub/Sub operation op with its errkind,
// through the table above, for tools that call the Pub/Sub API beside the
// driver (worker/dlq).
func Classify(op string, err error) error { return classify(op, err) }
