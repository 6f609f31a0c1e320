// Package httpx is what the protocol adapters share: one JSON request per
// batch with the spec's headers, TLS and timeout, HTTP status and transport
// errors classified with errkind, bounded and pooled response buffers, no
// redirects, and checks on the scores, labels and versions an endpoint
// returns.
package httpx

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
)

// MaxResponseBytes is the default bound of a response body.
const MaxResponseBytes = endpoint.DefaultMaxResponseBytes

// errorSnippet bounds how much of an error body is read to find its
// message; errorText bounds how much of that message goes into an error,
// a log line or a dead letter.
const (
	errorSnippet = 4 << 10
	errorText    = 256
)

// Caller sends JSON to one endpoint. It is safe for concurrent use.
type Caller struct {
	client   *http.Client
	headers  []header
	host     string
	timeout  time.Duration
	maxBytes int64
}

type header struct{ key, value string }

// NewCaller builds a Caller from spec: spec.HTTPClient if set, else a
// transport of its own with spec.TLS. Redirects are never followed: a
// followed redirect would carry the feedback texts, and headers such as
// X-Api-Key that net/http does not strip, to wherever the server points.
func NewCaller(spec endpoint.Spec) (*Caller, error) {
	c := &Caller{timeout: spec.Timeout, maxBytes: spec.MaxResponseBytes}
	if c.timeout < 0 {
		return nil, SpecError("negative timeout %v", spec.Timeout)
	}
	if c.maxBytes < 0 {
		return nil, SpecError("negative max response bytes %d", spec.MaxResponseBytes)
	}
	if c.maxBytes == 0 {
		c.maxBytes = MaxResponseBytes
	}
	var client http.Client
	if spec.HTTPClient != nil {
		client = *spec.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make every
		// batch beyond the second in flight open and close a connection.
		t.MaxIdleConnsPerHost = 256
		if spec.TLS != nil {
			t.TLSClientConfig = spec.TLS.Clone()
		}
		client.Transport = t
	}
	if spec.Transport != nil {
		rt := client.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		client.Transport = spec.Transport(rt)
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.client = &client
	for k, v := range spec.Headers {
		if strings.EqualFold(k, "Host") {
			c.host = v
			continue
		}
		c.headers = append(c.headers, header{http.CanonicalHeaderKey(k), v})
	}
	if u, err := url.Parse(spec.URL); err == nil && u.User != nil && spec.Headers["Authorization"] == "" {
		pw, _ := u.User.Password()
		tok := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw))
		c.headers = append(c.headers, header{"Authorization", "Basic " + tok})
	}
	return c, nil
}

// SpecError reports a spec that can never work; retrying will not help.
func SpecError(format string, args ...any) error {
	return errkind.Errorf(errkind.Permanent, endpoint.ReasonBadSpec, format, args...)
}

// Misconfigured reports a deterministic disagreement between the spec and
// the server.
func Misconfigured(reason errkind.Reason, format string, args ...any) error {
	return errkind.Errorf(errkind.Misconfigured, reason, format, args...)
}

// BaseURL checks that spec.URL is an absolute http(s) URL and returns it
// without userinfo (sent as basic auth by the Caller, never printed) and
// without a trailing slash.
func BaseURL(spec endpoint.Spec) (string, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return "", SpecError("model %q: url is not a URL", spec.Name)
	}
	u.User = nil
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", SpecError("model %q: url %q is not an absolute http(s) URL", spec.Name, u.String())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// RemoteName is the model's name at the endpoint.
func RemoteName(spec endpoint.Spec) string {
	if spec.RemoteName != "" {
		return spec.RemoteName
	}
	return spec.Name
}

// Post sends the JSON in body to target and hands a 2xx response body to
// decode; decode must not keep the slice, which is reused. Post owns body
// from the call on and returns it to the pool once the transport is done
// with it. Every error it returns is classified.
func (c *Caller) Post(ctx context.Context, target string, body *Buffer, decode func(b []byte, h http.Header) error) error {
	return c.Do(ctx, http.MethodPost, target, body, decode)
}

// Get fetches target (metadata, /info) and hands a 2xx body to decode.
func (c *Caller) Get(ctx context.Context, target string, decode func(b []byte, h http.Header) error) error {
	return c.Do(ctx, http.MethodGet, target, nil, decode)
}

// Do sends one request; body may be nil. See Post.
func (c *Caller) Do(ctx context.Context, method, target string, body *Buffer, decode func(b []byte, h http.Header) error) error {
	if body != nil {
		defer body.release()
	}
	reqCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(reqCtx, method, target, nil)
	if err != nil {
		return SpecError("new request: %v", redactErr(err))
	}
	req.Header = make(http.Header, len(c.headers)+2)
	if body != nil {
		req.Body = body.reader()
		req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
		req.ContentLength = int64(body.Len())
		req.Header["Content-Type"] = jsonType
	}
	req.Header["Accept"] = jsonType
	for _, h := range c.headers {
		req.Header[h.key] = []string{h.value}
	}
	if c.host != "" {
		req.Host = c.host
	}

	resp, err := c.client.Do(req)
	if err != nil {
		return transportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorSnippet))
		// Drain a little more so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return StatusError(resp.StatusCode, resp.Header, snippet, time.Now())
	}
	if err := checkContentType(resp.Header); err != nil {
		return err
	}

	if resp.ContentLength > c.maxBytes {
		return BadResponse("response body of %d bytes is over the model's max_response_bytes (%d)", resp.ContentLength, c.maxBytes)
	}
	buf := getBuffer()
	defer buf.release()
	if resp.ContentLength > 0 {
		// Known length: one allocation of exactly that size, not the
		// doubling growth that a 60 MB body would turn into 128 MB.
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return transportError(ctx, err)
	}
	if n > c.maxBytes {
		return BadResponse("response body over the model's max_response_bytes (%d)", c.maxBytes)
	}
	return decode(buf.Bytes(), resp.Header)
}

var jsonType = []string{"application/json"}

// checkContentType refuses answers that cannot be JSON, such as Triton's
// binary tensor extension, with a clear error rather than a parse failure.
func checkContentType(h http.Header) error {
	if v := h.Get("Inference-Header-Content-Length"); v != "" {
		return Misconfigured(endpoint.ReasonIncompatible,
			"response uses the binary tensor extension (Inference-Header-Content-Length: %s); Chorus asks for JSON data and cannot read binary outputs: set binary_data false for the output on the server side", truncate(v))
	}
	return nil
}

// redactErr drops a URL from an error (it may hold userinfo or a query
// with a key in it), keeping the operation and cause.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// transportError classifies a failure to get or read a response. ctx is
// the caller's context, so that its cancellation is told apart from the
// per-request timeout.
func transportError(ctx context.Context, err error) error {
	err = redactErr(err)
	if ctx.Err() == context.Canceled {
		return errkind.New(errkind.Canceled, endpoint.ReasonCanceled, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errkind.New(errkind.Retryable, endpoint.ReasonTimeout, err)
	}
	return errkind.New(errkind.Retryable, endpoint.ReasonConnection, err)
}

// StatusError classifies a non-2xx response. body is the start of the
// response body; its message, if it has one, goes into the error text,
// truncated and with control characters escaped.
func StatusError(status int, h http.Header, body []byte, now time.Time) error {
	msg := errorMessage(body)
	err := fmt.Errorf("HTTP %d%s", status, msg)
	var kind errkind.Kind
	var reason errkind.Reason
	switch {
	case status == http.StatusTooManyRequests:
		kind, reason = errkind.Retryable, endpoint.ReasonRateLimited
	case status == http.StatusRequestTimeout:
		kind, reason = errkind.Retryable, endpoint.ReasonTimeout
	case status == http.StatusNotImplemented:
		kind, reason = errkind.Misconfigured, endpoint.ReasonNotImplemented
	case status >= 500:
		kind, reason = errkind.Retryable, endpoint.ReasonServerError
	case status == http.StatusFailedDependency:
		// TEI answers 424 when the model itself failed on the batch (an
		// out-of-memory, a backend error): the endpoint's fault, not the
		// request's, so worth another try.
		kind, reason = errkind.Retryable, endpoint.ReasonInferenceFail
	case status == http.StatusRequestEntityTooLarge:
		kind, reason = errkind.Permanent, endpoint.ReasonBatchTooLarge
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind, reason = errkind.Misconfigured, endpoint.ReasonUnauthorized
	case status == http.StatusNotFound:
		kind, reason = errkind.Misconfigured, endpoint.ReasonNotFound
	case status >= 400:
		kind, reason = errkind.Permanent, endpoint.ReasonBadRequest
		if n, ok := BatchSizeLimit(msg); ok {
			reason = endpoint.ReasonBatchTooLarge
			err = &endpoint.LimitError{Max: n, Err: err}
		}
	case status >= 300 && status < 400:
		kind, reason = errkind.Misconfigured, endpoint.ReasonRedirect
		err = fmt.Errorf("HTTP %d redirect to %s, not followed: point the model's url at the server itself", status, redactLocation(h.Get("Location")))
	default:
		// 1xx: not an answer we can use, but not a verdict on the request.
		kind, reason = errkind.Retryable, endpoint.ReasonBadResponse
	}
	if status == http.StatusRequestEntityTooLarge {
		if n, ok := BatchSizeLimit(msg); ok {
			err = &endpoint.LimitError{Max: n, Err: err}
		}
	}
	e := &errkind.Error{Kind: kind, Reason: reason, Err: err}
	if kind == errkind.Retryable {
		e.RetryAfter = RetryAfter(h.Get("Retry-After"), now)
		if e.RetryAfter == 0 {
			e.RetryAfter = retryInfoDelay(body)
		}
	}
	return e
}

// redactLocation keeps a redirect target's scheme, host and path: enough
// to fix the config, without userinfo or a query that may hold a key.
func redactLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return "(no valid Location)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return truncate(u.String())
}

// RetryAfter parses a Retry-After value, delay-seconds or an HTTP date;
// 0 when absent, malformed or in the past. Callers cap it by policy.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int64
	isInt := true
	for _, r := range v {
		if r < '0' || r > '9' {
			isInt = false
			break
		}
		secs = secs*10 + int64(r-'0')
		if secs > 1<<31 {
			break
		}
	}
	if isInt {
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

// BadResponse reports a 2xx answer that cannot be used. It is Retryable:
// a replica may be broken while others are fine, and the retry budget
// bounds the cost when all are.
func BadResponse(format string, args ...any) error {
	return errkind.Errorf(errkind.Retryable, endpoint.ReasonBadResponse, format, args...)
}

// Wrap adds context to err's message and keeps its classification.
func Wrap(err error, format string, args ...any) error {
	var e *errkind.Error
	if !errors.As(err, &e) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	return &errkind.Error{Kind: e.Kind, Reason: e.Reason, RetryAfter: e.RetryAfter,
		Err: fmt.Errorf(format+": %w", append(args, e.Err)...)}
}

// CheckCount reports a response with a different number of instances
// from the request.
func CheckCount(got, want int) error {
	if got != want {
		return BadResponse("%d predictions for %d instances", got, want)
	}
	return nil
}

// Base is what every adapter builds from its spec.
type Base struct {
	URL    string // spec.URL without userinfo or a trailing slash
	Labels *Labels
	Caller *Caller
}

// NewBase checks spec and builds the URL, label index and HTTP caller.
func NewBase(spec endpoint.Spec) (Base, error) {
	base, err := BaseURL(spec)
	if err != nil {
		return Base{}, err
	}
	if err := CheckVersion(spec.Version); err != nil {
		return Base{}, SpecError("model %q: version: %v", spec.Name, err)
	}
	labels, err := NewLabels(spec)
	if err != nil {
		return Base{}, err
	}
	call, err := NewCaller(spec)
	if err != nil {
		return Base{}, err
	}
	return Base{URL: base, Labels: labels, Caller: call}, nil
}

// PostJSON encodes req into a pooled buffer, posts it to target and returns
// what decode makes of a 2xx answer.
func PostJSON[R any](ctx context.Context, c *Caller, target string, req any, decode func(b []byte, h http.Header) (R, error)) (R, error) {
	var res R
	body := NewBuffer()
	if err := body.Encode(req); err != nil {
		body.release()
		return res, SpecError("encode request: %w", err)
	}
	err := c.Post(ctx, target, body, func(b []byte, h http.Header) error {
		var err error
		res, err = decode(b, h)
		return err
	})
	return res, err
}
