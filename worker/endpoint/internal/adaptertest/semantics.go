package adaptertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/call"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// Poison is the text the bisect case's server refuses.
const Poison = "POISON-TEXT"

// fastPolicy retries quickly so that the cases run in milliseconds.
var fastPolicy = retry.Policy{MaxAttempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxElapsed: 5 * time.Second, MaxRetryAfter: 5 * time.Millisecond}

// countTexts counts the texts in a request body by the marker every case
// text carries; adapters encode texts in their own forms, so the body is
// searched rather than parsed.
func countTexts(body string) int { return strings.Count(body, "txt-") }

// texts returns n case texts, each carrying the marker.
func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("txt-%d the app is slow", i)
	}
	return out
}

// RunSemantics runs the error-semantics cases through the shared call
// layer, as the worker runs every adapter: split and grow back, bisect,
// misconfiguration, Retry-After cap, redirects, memory and version bounds.
func RunSemantics(t *testing.T, p Protocol) {
	t.Run("split and grow back", func(t *testing.T) {
		if p.BatchTooLarge == nil {
			t.Fatal("Protocol.BatchTooLarge is not set")
		}
		var limit atomic.Int64
		limit.Store(3)
		var refused atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			n := countTexts(string(b))
			if l := int(limit.Load()); l > 0 && n > l {
				refused.Add(1)
				status, body := p.BatchTooLarge(l, n)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
			io.WriteString(w, p.OKBody(n))
		}))
		defer srv.Close()
		sizer := call.NewSizer(8, nil)
		r := &call.Runner{Client: mustNew(t, p, Spec(srv.URL)), Policy: fastPolicy, Sizer: sizer}
		out := make([]call.Outcome, 8)
		r.Predict(ctx(t), texts(8), out)
		for i, o := range out {
			if o.Err != nil || len(o.Scores) != len(Labels) {
				t.Fatalf("text %d: %v, %v; want scores after the split", i, o.Scores, o.Err)
			}
		}
		if got := sizer.Limit(); got > 3 {
			t.Errorf("batch size after the server refused 8 with a limit of 3: %d, want ≤ 3", got)
		}
		if refused.Load() == 0 {
			t.Fatal("the server never refused a batch")
		}
		// The server takes any size again: full batches grow back to 8.
		limit.Store(0)
		for i := 0; i < 200 && sizer.Limit() < 8; i++ {
			n := sizer.Limit()
			out := make([]call.Outcome, n)
			r.Predict(ctx(t), texts(n), out)
			if out[0].Err != nil {
				t.Fatal(out[0].Err)
			}
		}
		if got := sizer.Limit(); got != 8 {
			t.Errorf("batch size did not grow back: %d, want 8", got)
		}
	})

	t.Run("bisect to the bad text", func(t *testing.T) {
		if p.InvalidInput == nil {
			t.Fatal("Protocol.InvalidInput is not set")
		}
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			b, _ := io.ReadAll(r.Body)
			if strings.Contains(string(b), Poison) {
				status, body := p.InvalidInput("input 3 is not valid UTF-8 text")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
			io.WriteString(w, p.OKBody(countTexts(string(b))))
		}))
		defer srv.Close()
		r := &call.Runner{Client: mustNew(t, p, Spec(srv.URL)), Policy: fastPolicy, Sizer: call.NewSizer(8, nil)}
		in := texts(8)
		in[5] = "txt-5 " + Poison
		out := make([]call.Outcome, 8)
		r.Predict(ctx(t), in, out)
		for i, o := range out {
			if i == 5 {
				Check(t, o.Err, Want{Kind: errkind.InvalidInput, Reason: endpoint.ReasonInvalidInput})
				if o.Err != nil && !strings.Contains(o.Err.Error(), "not valid UTF-8") {
					t.Errorf("error %q does not carry the server's message", o.Err)
				}
				continue
			}
			if o.Err != nil {
				t.Errorf("text %d: %v; only the bad text may fail", i, o.Err)
			}
		}
		if n := requests.Load(); n > 8 {
			t.Errorf("%d requests to find one bad text in 8; bisection needs at most 7", n)
		}
	})

	t.Run("every text refused is a misconfiguration", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			status, body := p.InvalidInput("cannot read input")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		defer srv.Close()
		r := &call.Runner{Client: mustNew(t, p, Spec(srv.URL)), Policy: fastPolicy, Breaker: retry.NewBreaker(5, time.Hour)}
		out := make([]call.Outcome, 4)
		r.Predict(ctx(t), texts(4), out)
		for _, o := range out {
			if errkind.KindOf(o.Err) != errkind.Misconfigured {
				t.Errorf("outcome %v is %v, want misconfigured", o.Err, errkind.KindOf(o.Err))
			}
		}
		if !r.Breaker.Open() {
			t.Error("breaker still closed after a misconfiguration")
		}
	})

	t.Run("misconfiguration opens the breaker at once", func(t *testing.T) {
		for _, rep := range p.Misconfigured {
			t.Run(rep.Name, func(t *testing.T) {
				var calls atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					for k, v := range rep.Header {
						w.Header()[k] = v
					}
					w.WriteHeader(rep.Status)
					io.WriteString(w, rep.Body)
				}))
				defer srv.Close()
				br := retry.NewBreaker(5, time.Hour)
				r := &call.Runner{Client: mustNew(t, p, Spec(srv.URL)), Policy: fastPolicy, Breaker: br}
				for range 3 {
					out := make([]call.Outcome, 2)
					r.Predict(ctx(t), texts(2), out)
					if errkind.KindOf(out[0].Err) != errkind.Misconfigured {
						t.Fatalf("%v is %v, want misconfigured", out[0].Err, errkind.KindOf(out[0].Err))
					}
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("%d requests; a misconfigured model must be called once, then wait for the breaker's cooldown", n)
				}
				if br.Cause() == nil {
					t.Error("breaker does not name the misconfiguration")
				}
			})
		}
	})

	t.Run("retry-after is capped", func(t *testing.T) {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "86400")
				w.WriteHeader(503)
				io.WriteString(w, p.ErrorBody(503, "overloaded"))
				return
			}
			io.WriteString(w, p.OKBody(countTexts(string(b))))
		}))
		defer srv.Close()
		var mu sync.Mutex
		var waits []time.Duration
		r := &call.Runner{Client: mustNew(t, p, Spec(srv.URL)), Policy: fastPolicy,
			Notify: func(_ error, d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() }}
		out := make([]call.Outcome, 2)
		r.Predict(ctx(t), texts(2), out)
		if out[0].Err != nil {
			t.Fatal(out[0].Err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 1 || waits[0] > fastPolicy.MaxRetryAfter {
			t.Errorf("waits %v; want one wait capped at %v", waits, fastPolicy.MaxRetryAfter)
		}
	})

	t.Run("no redirect is followed", func(t *testing.T) {
		var leaked atomic.Int64
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked.Add(1)
			io.WriteString(w, p.OKBody(2))
		}))
		defer other.Close()
		for _, status := range []int{301, 302, 307, 308} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path+"?key=k3y", status)
			}))
			spec := Spec(srv.URL)
			spec.Headers = map[string]string{"X-Api-Key": "s3cr3t-k3y", "Authorization": Secret}
			_, err := mustNew(t, p, spec).Predict(ctx(t), texts(2))
			srv.Close()
			Check(t, err, Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonRedirect})
			if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "k3y")) {
				t.Errorf("%d: error %q leaks a secret", status, err)
			}
		}
		if n := leaked.Load(); n != 0 {
			t.Errorf("%d requests reached the redirect target", n)
		}
	})

	t.Run("response memory is bounded", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			// Chunked, no Content-Length: the client must stop reading at
			// its bound, not buffer the whole stream.
			io.WriteString(w, `{"pad":"`)
			chunk := strings.Repeat("x", 32<<10)
			for range 64 {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, `"}`)
		}))
		defer srv.Close()
		spec := Spec(srv.URL)
		spec.MaxResponseBytes = 64 << 10
		_, err := mustNew(t, p, spec).Predict(ctx(t), texts(2))
		Check(t, err, Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse})
		if err != nil && !strings.Contains(err.Error(), "max_response_bytes") {
			t.Errorf("error %q does not name the bound", err)
		}
	})

	t.Run("model version is bounded", func(t *testing.T) {
		if p.OKBodyVersion == nil {
			t.Fatal("Protocol.OKBodyVersion is not set")
		}
		for _, tc := range []struct {
			version string
			ok      bool
		}{
			{"v1", true},
			{"2026-11-02.3", true},
			{strings.Repeat("v", endpoint.MaxVersionBytes+1), false},
			{"v1\x00", false},
			{"v1\nforged log line", false},
		} {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				body, h := p.OKBodyVersion(countTexts(string(b)), tc.version)
				for k, v := range h {
					w.Header()[k] = v
				}
				io.WriteString(w, body)
			}))
			res, err := mustNew(t, p, Spec(srv.URL)).Predict(ctx(t), texts(2))
			srv.Close()
			switch {
			case tc.ok && err != nil:
				t.Errorf("version %q: %v", tc.version, err)
			case tc.ok && res.Version != tc.version:
				t.Errorf("version %q read as %q", tc.version, res.Version)
			case !tc.ok && err == nil && len(res.Version) <= endpoint.MaxVersionBytes && strings.IndexFunc(res.Version, unicode.IsControl) < 0:
				// The HTTP layer cleaned it (a header folds a newline).
			case !tc.ok && err == nil:
				t.Errorf("version %q accepted as %q", tc.version, res.Version)
			case !tc.ok && errkind.KindOf(err) != errkind.Retryable:
				// A header cannot carry a control character: then the
				// transport refuses it, also retryable.
				t.Errorf("version %q: %v is %v, want retryable", tc.version, err, errkind.KindOf(err))
			}
		}
	})

	t.Run("url userinfo is sent as basic auth and never printed", func(t *testing.T) {
		got := make(chan string, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, pw, _ := r.BasicAuth()
			select {
			case got <- u + ":" + pw:
			default:
			}
			w.WriteHeader(503)
		}))
		defer srv.Close()
		spec := Spec(strings.Replace(srv.URL, "http://", "http://svc:pa55w0rd@", 1))
		_, err := mustNew(t, p, spec).Predict(ctx(t), texts(2))
		if err == nil {
			t.Fatal("want the 503")
		}
		if strings.Contains(err.Error(), "pa55w0rd") || strings.Contains(err.Error(), "svc:") {
			t.Errorf("error %q prints the url's userinfo", err)
		}
		select {
		case v := <-got:
			if v != "svc:pa55w0rd" {
				t.Errorf("basic auth %q, want svc:pa55w0rd", v)
			}
		default:
			t.Error("no request reached the server")
		}
		// A refused connection's error must not print it either.
		dead := Spec("http://svc:pa55w0rd@127.0.0.1:1")
		_, err = mustNew(t, p, dead).Predict(ctx(t), texts(2))
		if err == nil || strings.Contains(err.Error(), "pa55w0rd") {
			t.Errorf("transport error %v prints the url's userinfo", err)
		}
	})
}

// Serve answers every request with body; for the adapters' own cases.
func Serve(t *testing.T, status int, h http.Header, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w, status, h, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// answer writes status, h and body, as JSON unless h says otherwise.
func answer(w http.ResponseWriter, status int, h http.Header, body string) {
	for k, v := range h {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}
