package httpx

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"Mon, 02 Nov 2026 10:00:30 GMT", 30 * time.Second},
	}
	for _, tc := range tests {
		if got := RetryAfter(tc.in, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		body       string
		kind       errkind.Kind
		reason     errkind.Reason
		wait       time.Duration
		msg        string
	}{
		{429, "3", `{"error":"Model is overloaded","error_type":"overloaded"}`, errkind.Retryable, endpoint.ReasonRateLimited, 3 * time.Second, "Model is overloaded"},
		{503, "1", `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`, errkind.Retryable, endpoint.ReasonServerError, time.Second, "currently unavailable"},
		{500, "", `plain text`, errkind.Retryable, endpoint.ReasonServerError, 0, "plain text"},
		{504, "", ``, errkind.Retryable, endpoint.ReasonServerError, 0, "HTTP 504"},
		{408, "2", ``, errkind.Retryable, endpoint.ReasonTimeout, 2 * time.Second, "HTTP 408"},
		{413, "5", `{"error":"batch too large"}`, errkind.Permanent, endpoint.ReasonBatchTooLarge, 0, "batch too large"},
		{400, "", `{"error":"bad"}`, errkind.Permanent, endpoint.ReasonBadRequest, 0, "bad"},
		{401, "", ``, errkind.Misconfigured, endpoint.ReasonUnauthorized, 0, "HTTP 401"},
		{403, "", ``, errkind.Misconfigured, endpoint.ReasonUnauthorized, 0, "HTTP 403"},
		{404, "", `{"error":"model x not found"}`, errkind.Misconfigured, endpoint.ReasonNotFound, 0, "not found"},
		{501, "", ``, errkind.Misconfigured, endpoint.ReasonNotImplemented, 0, "HTTP 501"},
		{424, "", `{"error":"Inference failed","error_type":"backend"}`, errkind.Retryable, endpoint.ReasonInferenceFail, 0, "Inference failed"},
		{302, "", ``, errkind.Misconfigured, endpoint.ReasonRedirect, 0, "redirect"},
		{422, "", `{"error":"batch size 64 > maximum allowed batch size 32","error_type":"validation"}`, errkind.Permanent, endpoint.ReasonBatchTooLarge, 0, "maximum allowed"},
		{400, "", `{"error":"inference request batch-size must be <= 8 for 'm'"}`, errkind.Permanent, endpoint.ReasonBatchTooLarge, 0, "<= 8"},
		{429, "", `{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`, errkind.Retryable, endpoint.ReasonRateLimited, 1500 * time.Millisecond, "Quota exceeded"},
		{400, "", "{\"error\":\"bad\nforged line\"}", errkind.Permanent, endpoint.ReasonBadRequest, 0, `bad\nforged`},
	}
	now := time.Now()
	for _, tc := range tests {
		h := http.Header{}
		if tc.retryAfter != "" {
			h.Set("Retry-After", tc.retryAfter)
		}
		err := StatusError(tc.status, h, []byte(tc.body), now)
		if k := errkind.KindOf(err); k != tc.kind {
			t.Errorf("%d: kind %v, want %v", tc.status, k, tc.kind)
		}
		if r := errkind.ReasonOf(err); r != tc.reason {
			t.Errorf("%d: reason %q, want %q", tc.status, r, tc.reason)
		}
		if w, _ := errkind.RetryAfterOf(err); w != tc.wait {
			t.Errorf("%d: retry after %v, want %v", tc.status, w, tc.wait)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%d: error %q does not contain %q", tc.status, err, tc.msg)
		}
	}
}

func TestBatchSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		{"batch size 64 > maximum allowed batch size 32", 32},
		{"inference request batch-size must be <= 8 for 'sentiment'", 8},
		{"input batch size 100 exceeds max_batch_size 16", 16},
		{"Task size 65 is larger than maximum input batch size 64", 64},
		{"tokenization error", 0},
	} {
		got, _ := BatchSizeLimit(tc.msg)
		if got != tc.want {
			t.Errorf("BatchSizeLimit(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", 300)
	got := truncate(long)
	if len(got) > errorText+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate of %d bytes gave %d bytes", len(long), len(got))
	}
	if got := truncate("a\x00b\nc"); got != `a\x00b\nc` {
		t.Errorf("control characters not escaped: %q", got)
	}
}

func TestProb(t *testing.T) {
	tests := []struct {
		in   float64
		want float64
		ok   bool
	}{
		{0, 0, true},
		{1, 1, true},
		{0.25, 0.25, true},
		{1 + 1e-7, 1, true},
		{-1e-7, 0, true},
		{1.01, 0, false},
		{-0.01, 0, false},
		{math.NaN(), 0, false},
		{math.Inf(1), 0, false},
		{math.Inf(-1), 0, false},
	}
	for _, tc := range tests {
		got, err := Prob(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Prob(%v) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && errkind.ReasonOf(err) != endpoint.ReasonBadResponse {
			t.Errorf("Prob(%v): reason %q", tc.in, errkind.ReasonOf(err))
		}
	}
}

// A request body the transport closes after Post has returned must still
// read the bytes it was given.
func TestBufferOutlivesPost(t *testing.T) {
	b := NewBuffer()
	if err := b.Encode(map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	r := b.reader()
	b.release() // Post returns.
	other := NewBuffer()
	other.WriteString("overwritten")
	got := make([]byte, 64)
	n, _ := r.Read(got)
	if string(got[:n]) != "{\"a\":1}\n" {
		t.Errorf("body read %q after release", got[:n])
	}
	r.Close()
	r.Close() // A second close must not release twice.
	if b.refs.Load() != 0 {
		t.Errorf("refs = %d after all holders let go", b.refs.Load())
	}
	other.release()
}

func TestNewScores(t *testing.T) {
	rows, flat := NewScores(3, 2)
	if len(rows) != 3 || len(flat) != 6 {
		t.Fatalf("NewScores(3, 2) = %d rows, %d flat", len(rows), len(flat))
	}
	flat[3] = 1
	if rows[1][1] != 1 {
		t.Errorf("rows do not share the flat array")
	}
	rows[0] = append(rows[0], 9)
	if flat[2] != 0 {
		t.Errorf("appending to a row overwrote the next row")
	}
}
