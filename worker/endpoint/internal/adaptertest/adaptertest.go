// Package adaptertest holds the cases every protocol adapter must pass
// that do not depend on the protocol's success body: HTTP status mapping,
// Retry-After, malformed bodies, timeouts, cancellation, connection loss
// and header injection.
package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
)

// Protocol describes the adapter under test.
type Protocol struct {
	// BatchTooLarge is the server's own answer to a batch of n over its
	// limit (status and body), e.g. TEI's 422 or Triton's 400.
	BatchTooLarge func(limit, n int) (status int, body string)
	// InvalidInput is the server's own answer to a request holding a text
	// it refuses (status and body).
	InvalidInput func(msg string) (status int, body string)
	// OKBodyVersion is a valid 200 body for n instances reporting version
	// (in the body or in headers, as the protocol does).
	OKBodyVersion func(n int, version string) (body string, h http.Header)
	// Misconfigured are real answers that mean the config and the server
	// disagree; each must be classified errkind.Misconfigured.
	Misconfigured []Reply
	// New builds a client; the spec's URL points at a test server.
	New func(endpoint.Spec) (endpoint.Client, error)
	// Path is the request path the client must POST to for spec.
	Path func(spec endpoint.Spec) string
	// ErrorBody is the protocol's documented error body for a status.
	ErrorBody func(status int, msg string) string
	// OKBody is a valid 200 body scoring n instances.
	OKBody func(n int) string
}

// Reply is one canned server answer.
type Reply struct {
	Name   string
	Status int
	Header http.Header
	Body   string
}

// Labels is the label set the common cases use.
var Labels = []string{"negative", "neutral", "positive"}

// Spec returns a spec for model "sentiment" at url.
func Spec(url string) endpoint.Spec {
	return endpoint.Spec{Name: "sentiment", URL: url, Labels: Labels}
}

// Want is an expected error classification.
type Want struct {
	Kind       errkind.Kind
	Reason     errkind.Reason
	RetryAfter time.Duration
}

// Check fails t unless err is classified as want.
func Check(t *testing.T, err error, want Want) {
	t.Helper()
	if err == nil {
		t.Fatalf("Predict succeeded, want %v %q", want.Kind, want.Reason)
	}
	if got := errkind.KindOf(err); got != want.Kind {
		t.Errorf("KindOf(%v) = %v, want %v", err, got, want.Kind)
	}
	if got := errkind.ReasonOf(err); got != want.Reason {
		t.Errorf("ReasonOf(%v) = %q, want %q", err, got, want.Reason)
	}
	got, _ := errkind.RetryAfterOf(err)
	if got != want.RetryAfter {
		t.Errorf("RetryAfterOf(%v) = %v, want %v", err, got, want.RetryAfter)
	}
}

// Secret is the auth token the cases send; it must never show in an error.
const Secret = "Bearer s3cr3t-t0ken"

// Run runs the common cases against p, then RunSemantics: one entry point,
// so an adapter cannot pass the suite without its error semantics.
func Run(t *testing.T, p Protocol) {
	t.Run("semantics", func(t *testing.T) { RunSemantics(t, p) })
	texts := []string{"great", "awful"}
	statusCases := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   Want
	}{
		{"429 retry-after seconds", 429, map[string]string{"Retry-After": "7"}, p.ErrorBody(429, "Model is overloaded"),
			Want{errkind.Retryable, endpoint.ReasonRateLimited, 7 * time.Second}},
		{"503 retry-after date", 503, map[string]string{"Retry-After": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, p.ErrorBody(503, "unavailable"),
			Want{errkind.Retryable, endpoint.ReasonServerError, 0}}, // RetryAfter checked below: a date is relative to now.
		{"503", 503, nil, p.ErrorBody(503, "unavailable"), Want{errkind.Retryable, endpoint.ReasonServerError, 0}},
		{"500 empty body", 500, nil, "", Want{errkind.Retryable, endpoint.ReasonServerError, 0}},
		{"502 html body", 502, nil, "<html>bad gateway</html>", Want{errkind.Retryable, endpoint.ReasonServerError, 0}},
		{"408", 408, nil, "", Want{errkind.Retryable, endpoint.ReasonTimeout, 0}},
		{"413", 413, nil, p.ErrorBody(413, "batch size 2 > maximum allowed batch size 1"), Want{errkind.Permanent, endpoint.ReasonBatchTooLarge, 0}},
		{"400", 400, nil, p.ErrorBody(400, "bad input"), Want{errkind.Permanent, endpoint.ReasonBadRequest, 0}},
		{"422", 422, nil, p.ErrorBody(422, "tokenization error"), Want{errkind.Permanent, endpoint.ReasonBadRequest, 0}},
		{"401", 401, nil, p.ErrorBody(401, "no"), Want{errkind.Misconfigured, endpoint.ReasonUnauthorized, 0}},
		{"403", 403, nil, p.ErrorBody(403, "no"), Want{errkind.Misconfigured, endpoint.ReasonUnauthorized, 0}},
		{"404", 404, nil, p.ErrorBody(404, "model not found"), Want{errkind.Misconfigured, endpoint.ReasonNotFound, 0}},
		{"501", 501, nil, p.ErrorBody(501, "not implemented"), Want{errkind.Misconfigured, endpoint.ReasonNotImplemented, 0}},
		{"307", 307, map[string]string{"Location": "http://elsewhere.example/v2"}, "", Want{errkind.Misconfigured, endpoint.ReasonRedirect, 0}},
		{"200 bad json", 200, nil, `{"outputs": [`, Want{errkind.Retryable, endpoint.ReasonBadResponse, 0}},
		{"200 empty", 200, nil, ``, Want{errkind.Retryable, endpoint.ReasonBadResponse, 0}},
		{"200 html", 200, nil, `<html>hello</html>`, Want{errkind.Retryable, endpoint.ReasonBadResponse, 0}},
		{"200 wrong count", 200, nil, p.OKBody(len(texts) + 1), Want{errkind.Retryable, endpoint.ReasonBadResponse, 0}},
		{"200 one short", 200, nil, p.OKBody(len(texts) - 1), Want{errkind.Retryable, endpoint.ReasonBadResponse, 0}},
	}
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c := mustNew(t, p, Spec(srv.URL))
			_, err := c.Predict(ctx(t), texts)
			want := tc.want
			if strings.Contains(tc.name, "date") {
				ra, ok := errkind.RetryAfterOf(err)
				if !ok || ra <= 0 || ra > time.Hour {
					t.Errorf("RetryAfterOf = %v, %v; want (0, 1h]", ra, ok)
				}
				want.RetryAfter = ra
			}
			Check(t, err, want)
			if tc.status >= 400 && strings.Contains(tc.body, "unavailable") && !strings.Contains(err.Error(), "unavailable") {
				t.Errorf("error %q does not carry the server's message", err)
			}
		})
	}

	t.Run("request shape and headers", func(t *testing.T) {
		reqs := make(chan *http.Request, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqs <- r.Clone(context.Background())
			w.WriteHeader(503)
		}))
		defer srv.Close()
		spec := Spec(srv.URL + "/")
		spec.Headers = map[string]string{"authorization": Secret, "X-Tenant": "acme"}
		c := mustNew(t, p, spec)
		_, err := c.Predict(ctx(t), texts)
		Check(t, err, Want{errkind.Retryable, endpoint.ReasonServerError, 0})
		var got *http.Request
		select {
		case got = <-reqs:
		default:
			t.Fatal("no request reached the server")
		}
		if got.Method != http.MethodPost {
			t.Errorf("method %s, want POST", got.Method)
		}
		if want := p.Path(spec); got.URL.Path != want {
			t.Errorf("path %q, want %q", got.URL.Path, want)
		}
		if v := got.Header.Get("Authorization"); v != Secret {
			t.Errorf("Authorization = %q, want %q", v, Secret)
		}
		if v := got.Header.Get("X-Tenant"); v != "acme" {
			t.Errorf("X-Tenant = %q", v)
		}
		if v := got.Header.Get("Content-Type"); v != "application/json" {
			t.Errorf("Content-Type = %q", v)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error %q leaks the auth header", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		spec := Spec(srv.URL)
		spec.Timeout = 20 * time.Millisecond
		_, err := mustNew(t, p, spec).Predict(ctx(t), texts)
		Check(t, err, Want{errkind.Retryable, endpoint.ReasonTimeout, 0})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		release := make(chan struct{})
		arrived := make(chan struct{}, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		c, cancel := context.WithCancel(ctx(t))
		go func() {
			<-arrived
			cancel()
		}()
		_, err := mustNew(t, p, Spec(srv.URL)).Predict(c, texts)
		Check(t, err, Want{errkind.Canceled, endpoint.ReasonCanceled, 0})
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = mustNew(t, p, Spec("http://"+addr)).Predict(ctx(t), texts)
		Check(t, err, Want{errkind.Retryable, endpoint.ReasonConnection, 0})
	})

	t.Run("empty batch makes no request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("request for an empty batch")
		}))
		defer srv.Close()
		res, err := mustNew(t, p, Spec(srv.URL)).Predict(ctx(t), nil)
		if err != nil || res == nil || len(res.Scores) != 0 {
			t.Errorf("Predict(nil) = %v, %v; want empty result", res, err)
		}
	})

	t.Run("bad specs", func(t *testing.T) {
		for _, spec := range []endpoint.Spec{
			{Name: "m", URL: "", Labels: Labels},
			{Name: "m", URL: "ftp://x", Labels: Labels},
			{Name: "m", URL: "localhost:8080", Labels: Labels},
			{Name: "m", URL: "http://x", Labels: nil},
			{Name: "m", URL: "http://x", Labels: []string{"a", "a"}},
			{Name: "m", URL: "http://x", Labels: []string{"a", ""}},
			{Name: "m", URL: "http://x", Labels: Labels, Timeout: -time.Second},
		} {
			if _, err := p.New(spec); err == nil {
				t.Errorf("New(%+v) succeeded", spec)
			} else if errkind.KindOf(err) != errkind.Permanent {
				t.Errorf("New(%+v): %v is %v, want permanent", spec, err, errkind.KindOf(err))
			}
		}
	})
}

func mustNew(t *testing.T, p Protocol, spec endpoint.Spec) endpoint.Client {
	t.Helper()
	c, err := p.New(spec)
	if err != nil {
		t.Fatalf("New(%+v): %v", spec, err)
	}
	return c
}

// ctx bounds a case so that a hang fails fast rather than at the test
// binary's deadline.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Context is ctx for the adapters' own tests.
func Context(t *testing.T) context.Context { return ctx(t) }
