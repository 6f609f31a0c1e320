// Package endpoint defines how the worker calls a model endpoint. Protocol
// adapters (open-inference, vertex, tei, openai) live in subpackages and turn a
// batch of texts into per-instance scores in the model's configured label
// order; package call runs them with retry, splitting and bisection.
package endpoint

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/chorusml/chorus/worker/errkind"
)

// Result is an endpoint's answer to one batch.
type Result struct {
	// Scores[i][j] is the probability of Spec.Labels[j] for instance i,
	// in [0, 1]. A label the endpoint did not score is 0.
	Scores [][]float64
	// Version is the model version the endpoint reports (empty if none).
	Version string
}

// Client calls one model endpoint. Implementations are safe for concurrent
// use, make one HTTP request per Predict and do not retry: retry, backoff,
// splitting and circuit breaking wrap them in one place (package call).
type Client interface {
	// Predict scores texts. Errors are classified with worker/errkind:
	//   - Retryable: 5xx, 429, 408, timeouts, connection loss, and 2xx
	//     answers that cannot be used (bad JSON, wrong count, NaN, a score
	//     outside [0, 1]): a replica may be broken while others are fine.
	//   - Permanent, ReasonBatchTooLarge: the server takes smaller batches
	//     (413, or its own batch-size message); BatchLimit may say how small.
	//   - Permanent, ReasonBadRequest: a 400/422 that may be caused by one
	//     of the texts; the caller narrows it down.
	//   - Misconfigured: the server and the spec disagree (tensor names,
	//     datatypes, label set, 401/403/404/501, a redirect).
	Predict(ctx context.Context, texts []string) (*Result, error)
}

// Starter is implemented by clients that ask the server about the model
// before the first batch (model metadata, TEI's /info). The caller runs it
// once before the first Predict and again after it fails; a Misconfigured
// error means the model cannot be used until its config or server changes.
type Starter interface {
	Start(ctx context.Context) (Info, error)
}

// Info is what a client learned at Start.
type Info struct {
	// MaxBatch is the most texts the server takes in one request (0: none
	// known). The caller never sends more.
	MaxBatch int
	// Version is the model version the server reported, used when its
	// responses carry none.
	Version string
}

// Reasons adapters report. They are stable: metric labels and dead-letter
// attributes.
const (
	ReasonBatchTooLarge  errkind.Reason = "batch_too_large"
	ReasonBadRequest     errkind.Reason = "bad_request"
	ReasonInvalidInput   errkind.Reason = "invalid_input" // a bad request narrowed to one text
	ReasonBadResponse    errkind.Reason = "bad_response"
	ReasonIncompatible   errkind.Reason = "incompatible" // tensor names, datatypes, shapes, label set
	ReasonUnauthorized   errkind.Reason = "unauthorized"
	ReasonNotFound       errkind.Reason = "not_found"
	ReasonNotImplemented errkind.Reason = "not_implemented"
	ReasonRedirect       errkind.Reason = "redirect"
	ReasonBadSpec        errkind.Reason = "bad_spec"
	ReasonRateLimited    errkind.Reason = "rate_limited"
	ReasonServerError    errkind.Reason = "server_error"
	ReasonTimeout                       = errkind.ReasonTimeout
	ReasonConnection     errkind.Reason = "connection"
	ReasonCanceled                      = errkind.ReasonCanceled
	ReasonInferenceFail  errkind.Reason = "inference_failed"
)

// LimitError says how large a batch the server takes. It is wrapped inside
// a ReasonBatchTooLarge error when the server's message names its limit.
type LimitError struct {
	Max int
	Err error
}

func (e *LimitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("server takes at most %d per batch", e.Max)
	}
	return e.Err.Error()
}

func (e *LimitError) Unwrap() error { return e.Err }

// BatchLimit returns the batch size limit a batch_too_large error carries.
func BatchLimit(err error) (int, bool) {
	var le *LimitError
	if errors.As(err, &le) && le.Max > 0 {
		return le.Max, true
	}
	return 0, false
}

// DefaultMaxResponseBytes bounds one response body when Spec sets none.
const DefaultMaxResponseBytes = 8 << 20

// MaxVersionBytes bounds a model version (reported or configured); longer
// ones, or ones with control characters, are refused.
const MaxVersionBytes = 128

// MaxLabelBytes bounds a label name.
const MaxLabelBytes = 128

// Spec is what an adapter needs to reach one model.
type Spec struct {
	// Name is the model's name in Chorus config.
	Name string
	// RemoteName is the model's name at the endpoint (defaults to Name).
	RemoteName string
	// Version pins a model version where the protocol supports it.
	Version string
	// URL is the endpoint base URL (adapters append their protocol path),
	// or for vertex a full URL ending in ":predict". Userinfo in it is sent
	// as HTTP basic auth and never printed.
	URL string
	// Labels is the model's label set, in the order of Result.Scores.
	Labels []string
	// StrictLabels makes a label the server scores that is not in Labels
	// an error. By default such labels are dropped and reported once
	// through Warn; a response none of whose labels is in Labels is always
	// an error (Misconfigured), never a row of zeros.
	StrictLabels bool
	// Timeout bounds one request (0: no per-request bound beyond ctx).
	Timeout time.Duration
	// MaxResponseBytes bounds one response body (0: DefaultMaxResponseBytes).
	// A client holds at most one such body per request in flight.
	MaxResponseBytes int64
	// Headers are added to every request (e.g. Authorization). Never logged.
	Headers map[string]string
	// TLS configures HTTPS; nil uses the system defaults.
	TLS *tls.Config
	// HTTPClient overrides the client (tests, shared transports). Its
	// redirect policy is replaced: no redirect is ever followed.
	HTTPClient *http.Client
	// Transport, when set, wraps the client's transport (e.g. to add
	// OAuth2 tokens); it is applied after TLS.
	Transport func(http.RoundTripper) http.RoundTripper
	// Warn receives conditions worth one log line (e.g. labels dropped).
	// Each distinct condition is reported once. May be nil.
	Warn func(msg string)
}

// TriesError bounds how many requests in all an error's batch gets, below
// the model's retry policy. A generative model's unusable answer (invalid
// JSON, an unknown tag, a wrong count) is worth one more try, since sampling
// or another replica may answer well, but not the whole policy: every try is
// billed by the token, and at temperature 0 with a seed the same prompt tends
// to come back the same. It is wrapped inside the classified error.
type TriesError struct {
	Max int
	Err error
}

func (e *TriesError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("at most %d tries", e.Max)
	}
	return e.Err.Error()
}

func (e *TriesError) Unwrap() error { return e.Err }

// MaxTries returns the bound on tries an error carries.
func MaxTries(err error) (int, bool) {
	var te *TriesError
	if errors.As(err, &te) && te.Max > 0 {
		return te.Max, true
	}
	return 0, false
}

// Usage is what one request cost, for endpoints billed by the token.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// UsageMeter adds up the usage the requests made under one context report,
// retries and splits included: the caller knows whose batch it is (the
// tenants), the adapter only what the server billed. Safe for concurrent
// use; the zero value is ready.
type UsageMeter struct {
	prompt, completion atomic.Int64
}

// Add records one request's usage.
func (m *UsageMeter) Add(u Usage) {
	m.prompt.Add(u.PromptTokens)
	m.completion.Add(u.CompletionTokens)
}

// Total is the usage recorded so far.
func (m *UsageMeter) Total() Usage {
	return Usage{PromptTokens: m.prompt.Load(), CompletionTokens: m.completion.Load()}
}

type usageKey struct{}

// WithUsageMeter returns a context under which ReportUsage adds to m.
func WithUsageMeter(ctx context.Context, m *UsageMeter) context.Context {
	return context.WithValue(ctx, usageKey{}, m)
}

// ReportUsage adds u to the context's meter; without one it does nothing,
// so an adapter reports whether or not anyone counts.
func ReportUsage(ctx context.Context, u Usage) {
	if m, ok := ctx.Value(usageKey{}).(*UsageMeter); ok && m != nil {
		m.Add(u)
	}
}
