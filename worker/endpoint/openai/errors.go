package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// OpenAI's error codes ({"error": {"code": ...}}) the adapter reads.
const (
	codeContextLength     = "context_length_exceeded"
	codeInsufficientQuota = "insufficient_quota"
)

// Servers' words for a prompt over the model's context: OpenAI's ("This
// model's maximum context length is 128000 tokens") and vLLM's, which
// carries no code.
const contextLengthWords = "maximum context length"

// tpmTooLarge starts OpenAI's 429 for one request larger than the whole
// tokens-per-minute limit ("Request too large for gpt-4o in organization
// org-… on tokens per min (TPM): Limit 30000, Requested 34307"): no wait
// makes it fit, a smaller batch does.
const tpmTooLarge = "Request too large"

// tryAgain is the wait OpenAI names in a rate-limit message ("Please try
// again in 1.146s", "in 84ms"), for when its headers are missing.
var tryAgain = regexp.MustCompile(`try again in ([0-9.]+(?:ms|s|m))`)

// statusError classifies a non-2xx answer: as every adapter does, then
// with what OpenAI-compatible servers say beyond the status.
func (c *Client) statusError(status int, h http.Header, body []byte) error {
	err := httpx.StatusError(status, h, body, time.Now())
	var e *errkind.Error
	if !errors.As(err, &e) {
		return err
	}
	code := errorCode(body)
	msg := e.Err.Error()
	switch {
	case code == codeContextLength || strings.Contains(msg, contextLengthWords):
		// The prompt is over the model's context: fewer texts fit; one text
		// alone over it is refused as that text's fault.
		return &errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge, Err: e.Err}
	case status == http.StatusTooManyRequests && strings.Contains(msg, tpmTooLarge):
		return &errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge, Err: e.Err}
	case code == codeInsufficientQuota:
		// A 429 that no wait ends: the account must be topped up.
		return httpx.Misconfigured(endpoint.ReasonUnauthorized,
			"model %q: %w: the API account's quota is used up; check its plan and billing", c.spec.Name, e.Err)
	}
	if e.Kind == errkind.Retryable {
		if d := rateLimitWait(h, msg); d > 0 && (e.RetryAfter == 0 || h.Get("Retry-After-Ms") != "") {
			e.RetryAfter = d
		}
	}
	return e
}

// errorCode reads {"error": {"code": "..."}}; vLLM's code is the status
// as a number, which says nothing more.
func errorCode(body []byte) string {
	var v struct {
		Error struct {
			Code any `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	s, _ := v.Error.Code.(string)
	return s
}

// rateLimitWait is the wait a rate-limited answer asks for beyond
// Retry-After, most precise first: retry-after-ms (what OpenAI's own SDKs
// read first); then the reset of the limit that is spent
// (x-ratelimit-reset-requests or -tokens, with remaining 0), or the
// sooner reset when neither says it is spent; then the message's "try
// again in". The retry layer caps whatever comes back.
func rateLimitWait(h http.Header, msg string) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 && ms < 1<<31 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	var spent, sooner time.Duration
	for _, kind := range []string{"requests", "tokens"} {
		d := resetDuration(h.Get("X-Ratelimit-Reset-" + kind))
		if d <= 0 {
			continue
		}
		if strings.TrimSpace(h.Get("X-Ratelimit-Remaining-"+kind)) == "0" {
			spent = max(spent, d)
		}
		if sooner == 0 || d < sooner {
			sooner = d
		}
	}
	if spent > 0 {
		return spent
	}
	if sooner > 0 {
		return sooner
	}
	if m := tryAgain.FindStringSubmatch(msg); m != nil {
		return resetDuration(m[1])
	}
	return 0
}

// resetDuration reads a reset as OpenAI writes it ("1s", "6m0s", "12ms",
// "1.146s") or as plain seconds ("20", as Azure OpenAI writes it).
func resetDuration(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 && s < 1<<31 {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}
