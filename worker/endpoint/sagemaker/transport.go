package sagemaker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/chorusml/chorus/worker/endpoint"
)

// errorBodyBytes bounds an error body the SDK reads to find its type and
// message; past it the body is cut, the SDK cannot parse it and the
// error is classified by its status alone.
const errorBodyBytes = 64 << 10

// httpClient is the SDK's HTTP client for spec: the spec's TLS and
// transport wrapper, no redirects (a followed redirect would carry the
// texts, and unsigned requests' headers, to wherever the server points)
// and response bodies bounded by spec.MaxResponseBytes, which the SDK
// would otherwise read whole into memory. httpx builds the same client
// for the adapters that call net/http themselves; the SDK needs it as an
// *http.Client of its own.
func httpClient(spec endpoint.Spec) (*http.Client, error) {
	limit := spec.MaxResponseBytes
	if limit == 0 {
		limit = endpoint.DefaultMaxResponseBytes
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
	rt := client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if spec.Transport != nil {
		rt = spec.Transport(rt)
	}
	client.Transport = &boundedTransport{next: rt, limit: limit}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client, nil
}

// bodyLimitError is a response body over the model's bound.
type bodyLimitError struct {
	limit  int64
	length int64 // the declared length, or -1 when the stream ran past
}

func (e *bodyLimitError) Error() string {
	if e.length >= 0 {
		return fmt.Sprintf("response body of %d bytes is over the model's max_response_bytes (%d)", e.length, e.limit)
	}
	return fmt.Sprintf("response body over the model's max_response_bytes (%d)", e.limit)
}

// payloadKey keys the request payload in a request's context, for
// boundedTransport.
type payloadKey struct{}

// withPayload returns ctx carrying the payload of the request made with it.
func withPayload(ctx context.Context, b []byte) context.Context {
	return context.WithValue(ctx, payloadKey{}, b)
}

// boundedTransport bounds what the SDK can read of a response.
type boundedTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t *boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b, ok := r.Context().Value(payloadKey{}).([]byte); ok && r.Body != nil && int64(len(b)) == r.ContentLength {
		// smithy-go closes the request body it hands net/http as soon as
		// the response's headers arrive, and its body reads EOF from then
		// on. A server that answers before it has read the whole request
		// would have net/http send a short body, then close the
		// connection under the response being read. The payload is the
		// Client's own bytes, so net/http gets a reader of them the SDK
		// cannot close.
		r = r.WithContext(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body = &limitedBody{r: io.LimitReader(resp.Body, errorBodyBytes), c: resp.Body}
		return resp, nil
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, &bodyLimitError{limit: t.limit, length: resp.ContentLength}
	}
	resp.Body = &limitedBody{r: resp.Body, c: resp.Body, limit: t.limit, strict: true}
	return resp, nil
}

// limitedBody ends an error body quietly at its bound, and fails a
// success body that runs past it: a cut prediction must not be read.
type limitedBody struct {
	r      io.Reader
	c      io.Closer
	read   int64
	limit  int64
	strict bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.strict && int64(len(p)) > b.limit-b.read+1 {
		p = p[:b.limit-b.read+1]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.strict && b.read > b.limit {
		return n, &bodyLimitError{limit: b.limit, length: -1}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }

// isBodyLimit reports whether err is a body over the bound.
func isBodyLimit(err error) (*bodyLimitError, bool) {
	var e *bodyLimitError
	return e, errors.As(err, &e)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
