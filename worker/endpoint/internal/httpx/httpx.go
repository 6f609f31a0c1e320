// Package httpx is what the protocol adapters share: one JSON POST per
// batch with the spec's headers, TLS and timeout, HTTP status and transport
// errors classified with errkind, pooled request and response buffers, and
// checks on the scores an endpoint returns.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
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

// MaxResponseBytes bounds a response body so that a broken endpoint cannot
// make the worker buffer without limit.
const MaxResponseBytes = 64 << 20

// errorSnippet bounds how much of an error body goes into an error message.
const errorSnippet = 512

// Caller posts JSON to one endpoint. It is safe for concurrent use.
type Caller struct {
	client  *http.Client
	headers []header
	host    string
	timeout time.Duration
}

type header struct{ key, value string }

// NewCaller builds a Caller from spec: spec.HTTPClient if set, else a
// transport of its own with spec.TLS.
func NewCaller(spec endpoint.Spec) (*Caller, error) {
	c := &Caller{client: spec.HTTPClient, timeout: spec.Timeout}
	if c.timeout < 0 {
		return nil, SpecError("negative timeout %v", spec.Timeout)
	}
	if c.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make every
		// batch beyond the second in flight open and close a connection.
		t.MaxIdleConnsPerHost = 256
		if spec.TLS != nil {
			t.TLSClientConfig = spec.TLS.Clone()
		}
		c.client = &http.Client{Transport: t}
	}
	for k, v := range spec.Headers {
		if strings.EqualFold(k, "Host") {
			c.host = v
			continue
		}
		c.headers = append(c.headers, header{http.CanonicalHeaderKey(k), v})
	}
	return c, nil
}

// SpecError reports a spec that can never work; retrying will not help.
func SpecError(format string, args ...any) error {
	return errkind.Errorf(errkind.Permanent, "bad_spec", format, args...)
}

// BaseURL checks that spec.URL is an absolute http(s) URL and returns it
// without a trailing slash.
func BaseURL(spec endpoint.Spec) (string, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return "", SpecError("model %q: url: %w", spec.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", SpecError("model %q: url %q is not an absolute http(s) URL", spec.Name, u.Redacted())
	}
	return strings.TrimRight(spec.URL, "/"), nil
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
	defer body.release()
	reqCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, target, nil)
	if err != nil {
		return SpecError("new request: %w", err)
	}
	req.Body = body.reader()
	req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	req.ContentLength = int64(body.Len())
	req.Header = make(http.Header, len(c.headers)+2)
	req.Header["Content-Type"] = jsonType
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

	buf := getBuffer()
	defer buf.release()
	if resp.ContentLength > 0 && resp.ContentLength <= MaxResponseBytes {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return transportError(ctx, err)
	}
	if n > MaxResponseBytes {
		return BadResponse("response body over %d bytes", MaxResponseBytes)
	}
	return decode(buf.Bytes(), resp.Header)
}

var jsonType = []string{"application/json"}

// transportError classifies a failure to get or read a response. ctx is
// the caller's context, so that its cancellation is told apart from the
// per-request timeout.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() == context.Canceled {
		return errkind.New(errkind.Canceled, "canceled", err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errkind.New(errkind.Retryable, "timeout", err)
	}
	return errkind.New(errkind.Retryable, "connection", err)
}

// StatusError classifies a non-2xx response. body is the start of the
// response body; its message, if it has one, goes into the error text.
func StatusError(status int, h http.Header, body []byte, now time.Time) error {
	err := fmt.Errorf("HTTP %d%s", status, errorMessage(body))
	var kind errkind.Kind
	var reason string
	switch {
	case status == http.StatusTooManyRequests:
		kind, reason = errkind.Retryable, "rate_limited"
	case status == http.StatusRequestTimeout:
		kind, reason = errkind.Retryable, "timeout"
	case status >= 500:
		kind, reason = errkind.Retryable, "server_error"
	case status == http.StatusFailedDependency:
		// TEI answers 424 when the model itself failed on the batch (an
		// out-of-memory, a backend error): the endpoint's fault, not the
		// request's, so worth another try.
		kind, reason = errkind.Retryable, "inference_failed"
	case status == http.StatusRequestEntityTooLarge:
		kind, reason = errkind.Permanent, "batch_too_large"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind, reason = errkind.Permanent, "unauthorized"
	case status == http.StatusNotFound:
		kind, reason = errkind.Permanent, "not_found"
	case status >= 400:
		kind, reason = errkind.Permanent, "bad_request"
	default:
		// 1xx and unfollowed 3xx: not an answer we can use, but not a
		// verdict on the request either.
		kind, reason = errkind.Retryable, "bad_response"
	}
	e := &errkind.Error{Kind: kind, Reason: reason, Err: err}
	if kind == errkind.Retryable {
		e.RetryAfter = RetryAfter(h.Get("Retry-After"), now)
	}
	return e
}

// RetryAfter parses a Retry-After value, delay-seconds or an HTTP date;
// 0 when absent, malformed or in the past.
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

// errorMessage pulls the message out of the error bodies the three
// protocols document ({"error": "..."} for open-inference and TEI,
// {"error": {"message": "..."}} for Google APIs), else the raw text.
func errorMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var v struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil {
		switch e := v.Error.(type) {
		case string:
			return ": " + e
		case map[string]any:
			if m, ok := e["message"].(string); ok {
				return ": " + m
			}
		}
	}
	return ": " + strings.ToValidUTF8(string(body), "?")
}

// BadResponse reports a 2xx answer that cannot be used. It is Retryable:
// a replica may be broken while others are fine, and the retry budget
// bounds the cost when all are.
func BadResponse(format string, args ...any) error {
	return errkind.Errorf(errkind.Retryable, "bad_response", format, args...)
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
	URL    string // spec.URL without a trailing slash
	Labels *Labels
	Caller *Caller
}

// NewBase checks spec and builds the URL, label index and HTTP caller.
func NewBase(spec endpoint.Spec) (Base, error) {
	base, err := BaseURL(spec)
	if err != nil {
		return Base{}, err
	}
	labels, err := NewLabels(spec.Name, spec.Labels)
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
		return res, SpecError("encode request: %w", err)
	}
	err := c.Post(ctx, target, body, func(b []byte, h http.Header) error {
		var err error
		res, err = decode(b, h)
		return err
	})
	return res, err
}
