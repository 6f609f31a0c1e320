package sagemaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// SageMaker's own words in ValidationError messages (400), which would
// otherwise read as a request the call layer bisects.
const (
	// endpointNotFound is the answer for an endpoint name that does not
	// exist in the account and region: "Endpoint NAME of account ID not
	// found."
	endpointNotFound = " not found"
	endpointPrefix   = "Endpoint "
	// noCapacity is an inference component scaled to zero: it comes back
	// once auto scaling adds an instance, so it is worth a retry.
	noCapacity = "has no capacity to process this request"
)

// authCodes are AWS's error codes for a request that is not allowed or
// not signed right: only a change of credentials, role or policy helps.
// Some come as 400, which would otherwise be bisected.
var authCodes = map[string]bool{
	"AccessDeniedException":       true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
	"InvalidClientTokenId":        true,
	"ExpiredTokenException":       true,
	"SignatureDoesNotMatch":       true,
}

// throttleCodes are AWS's throttling codes; ThrottlingException comes as
// 400, which would otherwise be bisected.
var throttleCodes = map[string]bool{
	"ThrottlingException":      true,
	"Throttling":               true,
	"ThrottledException":       true,
	"TooManyRequestsException": true,
	"RequestLimitExceeded":     true,
}

// classify turns an SDK error into a classified one. ctx is the caller's
// context, so that its cancellation is told apart from the per-request
// timeout. Error texts carry the status, the error code and the server's
// message (truncated, control characters escaped), never the request's
// headers or the url's userinfo.
func (c *Client) classify(ctx context.Context, err error) error {
	if ctx.Err() == context.Canceled {
		return errkind.New(errkind.Canceled, endpoint.ReasonCanceled, redact(err))
	}
	if le, ok := isBodyLimit(err); ok {
		return httpx.BadResponse("%s", le.Error())
	}
	// A request that got no answer (a timeout, a refused connection)
	// comes wrapped with an empty response of status 0.
	var re *awshttp.ResponseError
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) || !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil || re.HTTPStatusCode() == 0 {
		return transportError(err)
	}
	status, h := re.HTTPStatusCode(), re.Response.Header
	var api smithy.APIError
	if !errors.As(err, &api) {
		// No AWS error in the body (HTML from a proxy, a cut body): the
		// status says what it can.
		return httpx.StatusError(status, h, nil, time.Now())
	}
	code, msg := api.ErrorCode(), api.ErrorMessage()
	var me *types.ModelError
	switch {
	case errors.As(err, &me):
		return c.modelError(status, h, me)
	case authCodes[code]:
		return httpx.Misconfigured(endpoint.ReasonUnauthorized, "HTTP %d %s%s: check the worker's AWS credentials and that its role may call sagemaker:InvokeEndpoint on the endpoint", status, code, message(msg))
	case throttleCodes[code]:
		return retryable(endpoint.ReasonRateLimited, h, fmt.Errorf("HTTP %d %s%s", status, code, message(msg)))
	}
	var ve *types.ValidationError
	if errors.As(err, &ve) {
		switch {
		case strings.HasPrefix(msg, endpointPrefix) && strings.Contains(msg, endpointNotFound):
			return httpx.Misconfigured(endpoint.ReasonNotFound, "HTTP %d %s%s: check the endpoint name and region of model %q", status, code, message(msg), c.spec.Name)
		case strings.Contains(msg, noCapacity):
			return retryable(endpoint.ReasonServerError, h, fmt.Errorf("HTTP %d %s%s", status, code, message(msg)))
		}
	}
	var notReady *types.ModelNotReadyException
	if errors.As(err, &notReady) {
		return retryable(endpoint.ReasonRateLimited, h, fmt.Errorf("HTTP %d %s%s", status, code, message(msg)))
	}
	// The status carries the rest: ValidationError (400) is a request
	// the call layer bisects, ServiceUnavailable (503), InternalFailure
	// (500) and InternalDependencyException (530) are retried, 413 is a
	// batch too large, 401/403/404 are misconfigured.
	return httpx.StatusError(status, h, errorBody(code+message(msg)), time.Now())
}

// modelError classifies an error the model's container answered, by the
// status the container gave (OriginalStatusCode) and its own message, as
// if the container had been called directly: a 400 from the Hugging Face
// toolkit (which answers 400 for every exception of its pipeline) is
// bisected, a 413 or a batch-size message splits the batch, a 5xx is
// retried. Status 0 is SageMaker's word for a container that did not
// answer in time.
func (c *Client) modelError(status int, h http.Header, me *types.ModelError) error {
	orig := 0
	if me.OriginalStatusCode != nil {
		orig = int(*me.OriginalStatusCode)
	}
	msg := containerMessage(me)
	prefix := fmt.Sprintf("HTTP %d ModelError: the model's container answered", status)
	switch {
	case orig == 0:
		return retryable(endpoint.ReasonTimeout, h, fmt.Errorf("%s nothing in time%s", prefix, message(msg)))
	case orig < 400 || orig > 599:
		return retryable(endpoint.ReasonInferenceFail, h, fmt.Errorf("%s %d%s", prefix, orig, message(msg)))
	}
	inner := httpx.StatusError(orig, nil, errorBody(msg), time.Now())
	var e *errkind.Error
	if !errors.As(inner, &e) {
		return inner
	}
	out := &errkind.Error{Kind: e.Kind, Reason: e.Reason, Err: fmt.Errorf("%s: %w", prefix, e.Err)}
	if out.Kind == errkind.Retryable {
		out.RetryAfter = httpx.RetryAfter(h.Get("Retry-After"), time.Now())
	}
	return out
}

// containerMessage is the container's own message: OriginalMessage, or
// SageMaker's Message when it has none. A JSON error body of the model
// server ({"code": 400, "type": ..., "message": "..."}, as the toolkit's
// model server writes it; {"error": "..."}) gives its message.
func containerMessage(me *types.ModelError) string {
	msg := strings.TrimSpace(awsString(me.OriginalMessage))
	if msg == "" {
		msg = awsString(me.Message)
	}
	var v struct {
		Message any `json:"message"`
		Error   any `json:"error"`
	}
	if json.Unmarshal([]byte(msg), &v) == nil {
		if m, ok := v.Message.(string); ok && m != "" {
			return m
		}
		if m, ok := v.Error.(string); ok && m != "" {
			return m
		}
	}
	return msg
}

func awsString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// errorBody is msg as the {"error": "..."} body httpx reads a message
// from, so that httpx's status mapping, limit parsing, truncation and
// escaping apply to SageMaker's errors as to every other server's.
func errorBody(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": accountID.ReplaceAllString(msg, "(account)")})
	return b
}

// accountID is an AWS account number, which SageMaker writes into its
// messages ("Endpoint x of account 123456789012 not found", the log
// group's console URL); it is left out of errors, logs and dead letters.
var accountID = regexp.MustCompile(`\b[0-9]{12}\b`)

// message is ": " + msg, without account numbers, truncated and escaped,
// or nothing.
func message(msg string) string {
	if msg = strings.TrimSpace(msg); msg == "" {
		return ""
	}
	return ": " + httpx.Truncate(accountID.ReplaceAllString(msg, "(account)"))
}

// retryable is a retryable error with the Retry-After a response asked
// for, if any.
func retryable(reason errkind.Reason, h http.Header, err error) error {
	return &errkind.Error{Kind: errkind.Retryable, Reason: reason, RetryAfter: httpx.RetryAfter(h.Get("Retry-After"), time.Now()), Err: err}
}

// transportError classifies a failure with no response: a timeout or a
// connection that failed.
func transportError(err error) error {
	err = redact(err)
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errkind.New(errkind.Retryable, endpoint.ReasonTimeout, err)
	}
	return errkind.New(errkind.Retryable, endpoint.ReasonConnection, err)
}

// redact keeps the operation and cause of a failed request and drops its
// URL, as httpx does for every other adapter.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("InvokeEndpoint: %s: %w", ue.Op, ue.Err)
	}
	return err
}
