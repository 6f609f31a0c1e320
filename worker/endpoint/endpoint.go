// Package endpoint defines how the worker calls a model endpoint. Protocol
// adapters (open-inference, vertex, tei) live in subpackages and turn a
// batch of texts into per-instance scores in the model's configured label
// order.
package endpoint

import (
	"context"
	"crypto/tls"
	"net/http"
	"time"
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
// use, make one HTTP request per Predict and do not retry: retry, backoff
// and circuit breaking wrap them in one place.
type Client interface {
	// Predict scores texts. Errors are classified with worker/errkind:
	// 5xx, 429, timeouts and malformed responses (wrong count, bad JSON,
	// NaN, out-of-range or unknown labels) are Retryable; 413 is Permanent
	// with reason "batch_too_large"; other 4xx are Permanent.
	Predict(ctx context.Context, texts []string) (*Result, error)
}

// Spec is what an adapter needs to reach one model.
type Spec struct {
	// Name is the model's name in Chorus config.
	Name string
	// RemoteName is the model's name at the endpoint (defaults to Name).
	RemoteName string
	// Version pins a model version where the protocol supports it.
	Version string
	// URL is the endpoint base URL (adapters append their protocol path),
	// or for vertex a full URL ending in ":predict".
	URL string
	// Labels is the model's label set, in the order of Result.Scores.
	Labels []string
	// Timeout bounds one request (0: no per-request bound beyond ctx).
	Timeout time.Duration
	// Headers are added to every request (e.g. Authorization). Never logged.
	Headers map[string]string
	// TLS configures HTTPS; nil uses the system defaults.
	TLS *tls.Config
	// HTTPClient overrides the client (tests, shared transports).
	HTTPClient *http.Client
}
