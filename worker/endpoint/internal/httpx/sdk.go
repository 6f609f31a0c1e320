package httpx

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
)

// SDK is what an adapter built on a vendor's client (openai-go) takes from
// the spec, so that requests the vendor's client sends behave as Caller's
// do: the same transport, TLS, no redirects, the spec's headers and the
// URL's userinfo as basic auth.
type SDK struct {
	// Client never follows a redirect.
	Client *http.Client
	// Headers are the spec's headers (and basic auth), to set on every
	// request. Host, when set, is the request's Host.
	Headers http.Header
	Host    string
	// MaxBytes bounds a response body.
	MaxBytes int64
	// Timeout bounds one request (0: only the caller's context).
	Timeout time.Duration
}

// NewSDK checks spec's transport settings as NewCaller does.
func NewSDK(spec endpoint.Spec) (SDK, error) {
	c, err := NewCaller(spec)
	if err != nil {
		return SDK{}, err
	}
	h := make(http.Header, len(c.headers))
	for _, kv := range c.headers {
		h[kv.key] = []string{kv.value}
	}
	return SDK{Client: c.client, Headers: h, Host: c.host, MaxBytes: c.maxBytes, Timeout: c.timeout}, nil
}

// TransportError classifies a failure to get or read a response, as Caller
// does; ctx is the caller's context (not the per-request one), so that its
// cancellation is told apart from the request's timeout.
func TransportError(ctx context.Context, err error) error { return transportError(ctx, err) }

// ErrorSnippet reads the start of a non-2xx body, as much as StatusError
// looks at, and drains a little more so that the connection can be reused.
func ErrorSnippet(body io.Reader) []byte {
	snippet, _ := io.ReadAll(io.LimitReader(body, errorSnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	return snippet
}

// BoundBody makes resp's body fail with a bad-response error once it is
// longer than max, so that a client which reads whole bodies (as vendor
// SDKs do) holds at most max bytes of one.
func BoundBody(resp *http.Response, max int64) error {
	if resp.ContentLength > max {
		return BadResponse("response body of %d bytes is over the model's max_response_bytes (%d)", resp.ContentLength, max)
	}
	resp.Body = &boundedBody{rc: resp.Body, left: max, max: max}
	return nil
}

type boundedBody struct {
	rc        io.ReadCloser
	left, max int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, BadResponse("response body over the model's max_response_bytes (%d)", b.max)
	}
	// One byte past the bound is read to tell "exactly max" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, BadResponse("response body over the model's max_response_bytes (%d)", b.max)
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
