package awssqs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

// Reasons this driver gives its errors (errkind reasons, stable).
const (
	ReasonThrottled     errkind.Reason = "sqs_throttled"
	ReasonUnavailable   errkind.Reason = "sqs_unavailable"
	ReasonConnection    errkind.Reason = "sqs_connection"
	ReasonQueueNotFound errkind.Reason = "sqs_queue_not_found"
	ReasonAccessDenied  errkind.Reason = "sqs_access_denied"
	ReasonInvalid       errkind.Reason = "sqs_invalid_request"
	ReasonKMS           errkind.Reason = "sqs_kms"
	ReasonError         errkind.Reason = "sqs_error"
	// ReasonPartialFailure is the reason of an error that names the batch
	// entries SQS refused while it accepted the others.
	ReasonPartialFailure errkind.Reason = "sqs_partial_failure"
	// ReasonTooLarge is the reason for a message over the size limit.
	ReasonTooLarge = sources.ReasonMessageTooLarge
	// ReasonPublisherClosed: Publish after the Publisher was closed.
	ReasonPublisherClosed errkind.Reason = "publisher_closed"
	// ReasonInvalidMessage: SQS refused a message as malformed.
	ReasonInvalidMessage errkind.Reason = "invalid_message"
)

// codeClass is one row of the error table.
type codeClass struct {
	kind   errkind.Kind
	reason errkind.Reason
}

// codes maps SQS error codes to kinds. SQS speaks the JSON protocol with
// query-compatible codes, so both spellings are listed where they differ
// (e.g. QueueDoesNotExist and AWS.SimpleQueueService.NonExistentQueue).
// ReceiptHandleIsInvalid and MessageNotInflight are not here: on a delete
// or a visibility change they mean "already redelivered", which callers
// handle per entry (see handleGone).
var codes = map[string]codeClass{
	// Throttling and overload: the same call may succeed later.
	"ThrottlingException":       {errkind.Retryable, ReasonThrottled},
	"Throttling":                {errkind.Retryable, ReasonThrottled},
	"RequestThrottled":          {errkind.Retryable, ReasonThrottled},
	"RequestThrottledException": {errkind.Retryable, ReasonThrottled},
	"TooManyRequestsException":  {errkind.Retryable, ReasonThrottled},
	"KmsThrottled":              {errkind.Retryable, ReasonThrottled},
	"KMS.ThrottlingException":   {errkind.Retryable, ReasonThrottled},
	"OverLimit":                 {errkind.Retryable, ReasonThrottled}, // too many messages in flight
	// Server side.
	"InternalError":           {errkind.Retryable, ReasonUnavailable},
	"InternalFailure":         {errkind.Retryable, ReasonUnavailable},
	"ServiceUnavailable":      {errkind.Retryable, ReasonUnavailable},
	"RequestTimeout":          {errkind.Retryable, ReasonUnavailable},
	"RequestTimeoutException": {errkind.Retryable, ReasonUnavailable},
	// Credentials that the provider refreshes on the next call.
	"ExpiredToken":          {errkind.Retryable, ReasonAccessDenied},
	"ExpiredTokenException": {errkind.Retryable, ReasonAccessDenied},
	// The queue is not there: configuration, not load.
	"QueueDoesNotExist":                           {errkind.Permanent, ReasonQueueNotFound},
	"AWS.SimpleQueueService.NonExistentQueue":     {errkind.Permanent, ReasonQueueNotFound},
	"QueueDeletedRecently":                        {errkind.Permanent, ReasonQueueNotFound},
	"AWS.SimpleQueueService.QueueDeletedRecently": {errkind.Permanent, ReasonQueueNotFound},
	"ResourceNotFoundException":                   {errkind.Permanent, ReasonQueueNotFound},
	"InvalidAddress":                              {errkind.Permanent, ReasonQueueNotFound},
	// Credentials and permissions.
	"AccessDenied":                {errkind.Permanent, ReasonAccessDenied},
	"AccessDeniedException":       {errkind.Permanent, ReasonAccessDenied},
	"InvalidClientTokenId":        {errkind.Permanent, ReasonAccessDenied},
	"UnrecognizedClientException": {errkind.Permanent, ReasonAccessDenied},
	"SignatureDoesNotMatch":       {errkind.Permanent, ReasonAccessDenied},
	"IncompleteSignature":         {errkind.Permanent, ReasonAccessDenied},
	"MissingAuthenticationToken":  {errkind.Permanent, ReasonAccessDenied},
	"InvalidSecurity":             {errkind.Permanent, ReasonAccessDenied},
	// The request itself is wrong: retrying sends the same bytes.
	"InvalidParameterValue":                               {errkind.Permanent, ReasonInvalid},
	"InvalidParameterCombination":                         {errkind.Permanent, ReasonInvalid},
	"MissingParameter":                                    {errkind.Permanent, ReasonInvalid},
	"ValidationError":                                     {errkind.Permanent, ReasonInvalid},
	"InvalidAttributeName":                                {errkind.Permanent, ReasonInvalid},
	"InvalidAttributeValue":                               {errkind.Permanent, ReasonInvalid},
	"InvalidMessageContents":                              {errkind.Permanent, ReasonInvalid},
	"InvalidIdFormat":                                     {errkind.Permanent, ReasonInvalid},
	"UnsupportedOperation":                                {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.UnsupportedOperation":         {errkind.Permanent, ReasonInvalid},
	"BatchEntryIdsNotDistinct":                            {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.BatchEntryIdsNotDistinct":     {errkind.Permanent, ReasonInvalid},
	"BatchRequestTooLong":                                 {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.BatchRequestTooLong":          {errkind.Permanent, ReasonInvalid},
	"EmptyBatchRequest":                                   {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.EmptyBatchRequest":            {errkind.Permanent, ReasonInvalid},
	"InvalidBatchEntryId":                                 {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.InvalidBatchEntryId":          {errkind.Permanent, ReasonInvalid},
	"TooManyEntriesInBatchRequest":                        {errkind.Permanent, ReasonInvalid},
	"AWS.SimpleQueueService.TooManyEntriesInBatchRequest": {errkind.Permanent, ReasonInvalid},
	"PurgeQueueInProgress":                                {errkind.Retryable, ReasonUnavailable},
	"AWS.SimpleQueueService.PurgeQueueInProgress":         {errkind.Retryable, ReasonUnavailable},
	// KMS-encrypted queues whose key cannot be used.
	"KmsAccessDenied":              {errkind.Permanent, ReasonKMS},
	"KMS.AccessDeniedException":    {errkind.Permanent, ReasonKMS},
	"KmsDisabled":                  {errkind.Permanent, ReasonKMS},
	"KMS.DisabledException":        {errkind.Permanent, ReasonKMS},
	"KmsInvalidKeyUsage":           {errkind.Permanent, ReasonKMS},
	"KMS.InvalidKeyUsageException": {errkind.Permanent, ReasonKMS},
	"KmsInvalidState":              {errkind.Permanent, ReasonKMS},
	"KMS.InvalidStateException":    {errkind.Permanent, ReasonKMS},
	"KmsNotFound":                  {errkind.Permanent, ReasonKMS},
	"KMS.NotFoundException":        {errkind.Permanent, ReasonKMS},
	"KmsOptInRequired":             {errkind.Permanent, ReasonKMS},
	"KMS.OptInRequired":            {errkind.Permanent, ReasonKMS},
}

// classifyCode returns the kind and reason of an SQS error code, falling
// back on the fault side (server faults are retryable) when the code is not
// in the table.
func classifyCode(code string, serverFault bool) (errkind.Kind, errkind.Reason) {
	if c, ok := codes[code]; ok {
		return c.kind, c.reason
	}
	if serverFault {
		return errkind.Retryable, ReasonUnavailable
	}
	return errkind.Permanent, ReasonError
}

// wrap classifies err from an SQS call and wraps it with op for context.
// It never returns nil for a non-nil err.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ke *errkind.Error
	if errors.As(err, &ke) {
		return fmt.Errorf("awssqs: %s: %w", op, err)
	}
	kind, reason := classify(err)
	return errkind.New(kind, errkind.Reason(reason), fmt.Errorf("awssqs: %s: %w", op, err))
}

// classify maps an SDK error to a kind and reason: the code table first,
// then the HTTP status, then transport errors.
func classify(err error) (errkind.Kind, errkind.Reason) {
	switch {
	case errors.Is(err, context.Canceled):
		return errkind.Canceled, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return errkind.Retryable, ReasonConnection
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if c, ok := codes[code]; ok {
			return c.kind, c.reason
		}
		if status := httpStatus(err); status != 0 {
			return classifyStatus(status)
		}
		return classifyCode(code, api.ErrorFault() == smithy.FaultServer)
	}
	if status := httpStatus(err); status != 0 {
		return classifyStatus(status)
	}
	var (
		send *smithyhttp.RequestSendError
		ne   net.Error
	)
	if errors.As(err, &send) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errkind.Retryable, ReasonConnection
	}
	return errkind.Unknown, ReasonError
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func classifyStatus(status int) (errkind.Kind, errkind.Reason) {
	switch {
	case status == 429:
		return errkind.Retryable, ReasonThrottled
	case status == 408 || status >= 500:
		return errkind.Retryable, ReasonUnavailable
	case status == 403 || status == 401:
		return errkind.Permanent, ReasonAccessDenied
	case status >= 400:
		return errkind.Permanent, ReasonInvalid
	}
	return errkind.Unknown, ReasonError
}

// handleGone reports whether a per-entry failure of a delete or visibility
// change means the receipt handle no longer names the current delivery:
// the message was received again (or deleted) since. SQS says so with
// ReceiptHandleIsInvalid or MessageNotInflight, and for an expired handle
// with InvalidParameterValue whose only distinguishing mark is its text
// ("... for parameter ReceiptHandle is invalid. Reason: The receipt handle
// has expired."), so that one case reads the message.
func handleGone(code, message string) bool {
	switch code {
	case "ReceiptHandleIsInvalid", "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
		"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight":
		return true
	case "InvalidParameterValue":
		return strings.Contains(message, "ReceiptHandle") || strings.Contains(message, "receipt handle")
	}
	return false
}

// handleGoneErr is handleGone for a whole-call error (ChangeMessageVisibility
// of one message).
func handleGoneErr(err error) bool {
	var (
		rh  *types.ReceiptHandleIsInvalid
		mni *types.MessageNotInflight
		api smithy.APIError
	)
	if errors.As(err, &rh) || errors.As(err, &mni) {
		return true
	}
	return errors.As(err, &api) && handleGone(api.ErrorCode(), api.ErrorMessage())
}

// entryError is a failed batch entry, as SQS reported it.
type entryError struct {
	name        string // what the entry was about: a message ID or index
	code        string
	message     string
	senderFault bool
}

func entryErr(name string, e types.BatchResultErrorEntry) entryError {
	ee := entryError{name: name}
	if e.Code != nil {
		ee.code = *e.Code
	}
	if e.Message != nil {
		ee.message = *e.Message
	}
	ee.senderFault = e.SenderFault
	return ee
}

func (e entryError) kind() (errkind.Kind, errkind.Reason) {
	return classifyCode(e.code, !e.senderFault)
}

// batchError summarises failed entries into one classified error: the
// retryable kind wins, so a caller retries the batch when any entry may
// still succeed.
func batchError(op string, total int, failed []entryError) error {
	if len(failed) == 0 {
		return nil
	}
	kind := errkind.Permanent
	var b strings.Builder
	for i, f := range failed {
		if k, _ := f.kind(); k == errkind.Retryable {
			kind = errkind.Retryable
		}
		if i == 10 {
			fmt.Fprintf(&b, ", and %d more", len(failed)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s: %s)", f.name, f.code, f.message)
	}
	return errkind.New(kind, ReasonPartialFailure,
		fmt.Errorf("awssqs: %s: %d of %d entries failed: %s", op, len(failed), total, b.String()))
}

// Classify wraps err from the SQS operation op with its errkind, through
// the table above, for tools that call the SQS API beside the driver
// (worker/dlq).
func Classify(op string, err error) error { return wrap(op, err) }
