package awssqs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/chorusml/chorus/worker/errkind"
)

func TestClassify(t *testing.T) {
	api := func(code string, fault smithy.ErrorFault) error {
		return &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault}
	}
	withStatus := func(status int, err error) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}
	}
	tests := []struct {
		name   string
		err    error
		kind   errkind.Kind
		reason errkind.Reason
	}{
		{"throttling", api("ThrottlingException", smithy.FaultClient), errkind.Retryable, ReasonThrottled},
		{"request throttled", &types.RequestThrottled{Message: aws.String("slow down")}, errkind.Retryable, ReasonThrottled},
		{"kms throttled, query code", api("KMS.ThrottlingException", smithy.FaultClient), errkind.Retryable, ReasonThrottled},
		{"over limit", &types.OverLimit{}, errkind.Retryable, ReasonThrottled},
		{"internal error", api("InternalError", smithy.FaultServer), errkind.Retryable, ReasonUnavailable},
		{"service unavailable", api("ServiceUnavailable", smithy.FaultServer), errkind.Retryable, ReasonUnavailable},
		{"unknown code, server fault", api("SomethingNew", smithy.FaultServer), errkind.Retryable, ReasonUnavailable},
		{"unknown code, 503", withStatus(503, api("SomethingNew", smithy.FaultUnknown)), errkind.Retryable, ReasonUnavailable},
		{"unknown code, 429", withStatus(429, api("SomethingNew", smithy.FaultUnknown)), errkind.Retryable, ReasonThrottled},
		{"unknown code, 400", withStatus(400, api("SomethingNew", smithy.FaultUnknown)), errkind.Permanent, ReasonInvalid},
		{"unknown code, client fault", api("SomethingNew", smithy.FaultClient), errkind.Permanent, ReasonError},
		{"queue does not exist", &types.QueueDoesNotExist{}, errkind.Permanent, ReasonQueueNotFound},
		{"queue does not exist, query code", api("AWS.SimpleQueueService.NonExistentQueue", smithy.FaultClient), errkind.Permanent, ReasonQueueNotFound},
		{"access denied", api("AccessDenied", smithy.FaultClient), errkind.Permanent, ReasonAccessDenied},
		{"bad signature", withStatus(403, api("SignatureDoesNotMatch", smithy.FaultClient)), errkind.Permanent, ReasonAccessDenied},
		{"expired token", api("ExpiredTokenException", smithy.FaultClient), errkind.Retryable, ReasonAccessDenied},
		{"invalid parameter", api("InvalidParameterValue", smithy.FaultClient), errkind.Permanent, ReasonInvalid},
		{"too many entries", &types.TooManyEntriesInBatchRequest{}, errkind.Permanent, ReasonInvalid},
		{"kms disabled", &types.KmsDisabled{}, errkind.Permanent, ReasonKMS},
		{"connection refused", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, errkind.Retryable, ReasonConnection},
		{"net timeout", &net.DNSError{IsTimeout: true}, errkind.Retryable, ReasonConnection},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), errkind.Retryable, ReasonConnection},
		{"deadline", context.DeadlineExceeded, errkind.Retryable, ReasonConnection},
		{"canceled", fmt.Errorf("op: %w", context.Canceled), errkind.Canceled, "canceled"},
		{"unclassified", errors.New("?"), errkind.Unknown, ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wrap("op", tt.err)
			if got := errkind.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v", got, tt.kind)
			}
			if got := errkind.ReasonOf(err); got != tt.reason {
				t.Errorf("reason = %q, want %q", got, tt.reason)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("%v does not wrap the SDK error", err)
			}
		})
	}
}

func TestHandleGone(t *testing.T) {
	tests := []struct {
		name, code, message string
		want                bool
	}{
		{"receipt handle invalid", "ReceiptHandleIsInvalid", "", true},
		{"not in flight", "AWS.SimpleQueueService.MessageNotInflight", "", true},
		{"expired handle", "InvalidParameterValue", "Value AQEB… for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", true},
		{"other invalid parameter", "InvalidParameterValue", "Value 50000 for parameter VisibilityTimeout is invalid.", false},
		{"internal", "InternalError", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := handleGone(tt.code, tt.message); got != tt.want {
				t.Errorf("handleGone(%q, %q) = %v, want %v", tt.code, tt.message, got, tt.want)
			}
		})
	}
	if !handleGoneErr(fmt.Errorf("x: %w", &types.ReceiptHandleIsInvalid{})) {
		t.Error("handleGoneErr(ReceiptHandleIsInvalid) = false")
	}
}

func TestBatchError(t *testing.T) {
	tests := []struct {
		name   string
		failed []entryError
		kind   errkind.Kind
	}{
		{"sender fault", []entryError{{name: "m1", code: "InvalidParameterValue", senderFault: true}}, errkind.Permanent},
		{"server fault", []entryError{{name: "m1", code: "SomethingNew"}}, errkind.Retryable},
		{"one retryable wins", []entryError{
			{name: "m1", code: "InvalidParameterValue", senderFault: true},
			{name: "m2", code: "InternalError"},
		}, errkind.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := batchError("ack", 5, tt.failed)
			if got := errkind.KindOf(err); got != tt.kind {
				t.Errorf("kind = %v, want %v (%v)", got, tt.kind, err)
			}
			for _, f := range tt.failed {
				if !strings.Contains(err.Error(), f.name) {
					t.Errorf("%v does not name %s", err, f.name)
				}
			}
		})
	}
	if batchError("ack", 1, nil) != nil {
		t.Error("batchError with no failures is not nil")
	}
}
