package call

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// fakeClient answers by a rule over the texts; unit tests only (the
// adapters run this layer against real HTTP in adaptertest).
type fakeClient struct {
	mu     sync.Mutex
	sizes  []int
	rule   func(texts []string) error
	info   *endpoint.Info
	start  error
	starts int
}

func (f *fakeClient) Predict(_ context.Context, texts []string) (*endpoint.Result, error) {
	f.mu.Lock()
	f.sizes = append(f.sizes, len(texts))
	f.mu.Unlock()
	if f.rule != nil {
		if err := f.rule(texts); err != nil {
			return nil, err
		}
	}
	scores := make([][]float64, len(texts))
	for i := range scores {
		scores[i] = []float64{1}
	}
	return &endpoint.Result{Scores: scores}, nil
}

type startingClient struct{ *fakeClient }

func (s startingClient) Start(context.Context) (endpoint.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	if s.start != nil {
		return endpoint.Info{}, s.start
	}
	return *s.info, nil
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t"
	}
	return out
}

var quick = retry.Policy{MaxAttempts: 2, Initial: time.Microsecond, Max: time.Microsecond}

func tooLarge(limit int) error {
	var err error = errors.New("too large")
	if limit > 0 {
		err = &endpoint.LimitError{Max: limit, Err: err}
	}
	return errkind.New(errkind.Permanent, endpoint.ReasonBatchTooLarge, err)
}

func TestSplitToServerLimit(t *testing.T) {
	f := &fakeClient{rule: func(t []string) error {
		if len(t) > 5 {
			return tooLarge(5)
		}
		return nil
	}}
	s := NewSizer(16, nil)
	r := &Runner{Client: f, Policy: quick, Sizer: s}
	out := make([]Outcome, 16)
	r.Predict(t.Context(), texts(16), out)
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("outcome %d: %v", i, o.Err)
		}
	}
	if got := s.Limit(); got != 5 {
		t.Errorf("limit %d, want the server's 5", got)
	}
	// One refused request of 16, then chunks of at most 5.
	if f.sizes[0] != 16 {
		t.Fatalf("sizes %v", f.sizes)
	}
	for _, n := range f.sizes[1:] {
		if n > 5 {
			t.Errorf("sent %d after learning the limit 5 (sizes %v)", n, f.sizes)
		}
	}
}

func TestSizerGrowsBackAndProbesLessOften(t *testing.T) {
	var changes []int
	s := NewSizer(64, func(n int) { changes = append(changes, n) })
	s.tooLarge(64, 16)
	if s.Limit() != 16 {
		t.Fatalf("limit %d, want 16", s.Limit())
	}
	fullRuns := func() int { // full batches until the limit changes
		start := s.Limit()
		for i := 1; i <= 5000; i++ {
			s.ok(s.Limit())
			if s.Limit() != start {
				return i
			}
		}
		return -1
	}
	if n := fullRuns(); n != firstProbe {
		t.Errorf("grew after %d full batches, want %d", n, firstProbe)
	}
	if s.Limit() != 32 {
		t.Fatalf("limit %d after growing, want 32", s.Limit())
	}
	// The probe at 32 is refused: back to 16, and the next probe needs
	// twice as long a run.
	s.tooLarge(32, 16)
	if n := fullRuns(); n != 2*firstProbe {
		t.Errorf("next probe after %d, want %d", n, 2*firstProbe)
	}
	// Partial batches say nothing about a larger size.
	s2 := NewSizer(8, nil)
	s2.tooLarge(8, 2)
	for range 100 {
		s2.ok(1)
	}
	if s2.Limit() != 2 {
		t.Errorf("partial batches grew the limit to %d", s2.Limit())
	}
	if len(changes) == 0 || changes[0] != 16 {
		t.Errorf("onChange saw %v", changes)
	}
}

func TestBisect(t *testing.T) {
	bad := errkind.New(errkind.Permanent, endpoint.ReasonBadRequest, errors.New("HTTP 400: text 3 is not UTF-8"))
	in := texts(8)
	in[3] = "poison"
	f := &fakeClient{rule: func(t []string) error {
		for _, s := range t {
			if s == "poison" {
				return bad
			}
		}
		return nil
	}}
	r := &Runner{Client: f, Policy: quick}
	out := make([]Outcome, 8)
	r.Predict(t.Context(), in, out)
	for i, o := range out {
		switch {
		case i == 3 && errkind.KindOf(o.Err) != errkind.InvalidInput:
			t.Errorf("poison: %v, want invalid input", o.Err)
		case i == 3 && !strings.Contains(o.Err.Error(), "not UTF-8"):
			t.Errorf("poison error %q lost the server's message", o.Err)
		case i != 3 && o.Err != nil:
			t.Errorf("text %d: %v", i, o.Err)
		}
	}
	if len(f.sizes) > 7 {
		t.Errorf("%d requests (%v), bisection of 8 needs at most 7", len(f.sizes), f.sizes)
	}
}

func TestRefusedInARowIsMisconfigured(t *testing.T) {
	bad := errkind.New(errkind.Permanent, endpoint.ReasonBadRequest, errors.New("HTTP 400: no input named text"))
	f := &fakeClient{rule: func([]string) error { return bad }}
	br := retry.NewBreaker(5, time.Hour)
	r := &Runner{Client: f, Policy: quick, Breaker: br}
	var kinds []errkind.Kind
	for range maxRefusedInARow {
		out := make([]Outcome, 1)
		r.Predict(t.Context(), texts(1), out)
		kinds = append(kinds, errkind.KindOf(out[0].Err))
	}
	want := []errkind.Kind{errkind.InvalidInput, errkind.InvalidInput, errkind.Misconfigured}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("single refusals classified %v, want %v", kinds, want)
			break
		}
	}
	if br.Cause() == nil {
		t.Error("breaker not opened by the misconfiguration")
	}
}

func TestStartCapsBatchesAndIsSpacedAfterFailure(t *testing.T) {
	now := time.Unix(0, 0)
	f := &fakeClient{info: &endpoint.Info{MaxBatch: 4, Version: "sha-1"},
		start: errkind.New(errkind.Retryable, endpoint.ReasonServerError, errors.New("HTTP 503"))}
	c := startingClient{f}
	s := NewSizer(32, nil)
	r := &Runner{Client: c, Policy: quick, Sizer: s, Cooldown: time.Second, Now: func() time.Time { return now }}
	out := make([]Outcome, 10)
	r.Predict(t.Context(), texts(10), out)
	if out[0].Err == nil || len(f.sizes) != 0 {
		t.Fatalf("Predict after a failed Start: %v, %d requests", out[0].Err, len(f.sizes))
	}
	r.Predict(t.Context(), texts(10), out)
	if f.starts != 1 {
		t.Errorf("Start retried within the cooldown (%d starts)", f.starts)
	}
	now = now.Add(time.Second)
	f.start = nil
	r.Predict(t.Context(), texts(10), out)
	if out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	if out[0].Version != "sha-1" {
		t.Errorf("version %q, want the one Start reported", out[0].Version)
	}
	for _, n := range f.sizes {
		if n > 4 {
			t.Errorf("sent %d texts; the server takes 4", n)
		}
	}
}

func TestMisconfiguredIsNotRetried(t *testing.T) {
	mis := errkind.New(errkind.Misconfigured, endpoint.ReasonIncompatible, errors.New("no output logits"))
	f := &fakeClient{rule: func([]string) error { return mis }}
	r := &Runner{Client: f, Policy: retry.Policy{MaxAttempts: 5, Initial: time.Microsecond}, Breaker: retry.NewBreaker(5, time.Hour)}
	out := make([]Outcome, 4)
	r.Predict(t.Context(), texts(4), out)
	r.Predict(t.Context(), texts(4), out)
	if len(f.sizes) != 1 {
		t.Errorf("%d requests; a misconfigured model is called once until the cooldown", len(f.sizes))
	}
	if errkind.KindOf(out[0].Err) != errkind.Misconfigured {
		t.Errorf("%v, want misconfigured", out[0].Err)
	}
}

// An error that bounds its own tries (a generative model's unusable
// answer) is retried that often and no more, and reaches the job still
// retryable; other errors keep the whole policy.
func TestTriesErrorBoundsRetries(t *testing.T) {
	policy := retry.Policy{MaxAttempts: 5, Initial: time.Millisecond, Max: time.Millisecond}
	bad := func([]string) error {
		return &errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse,
			Err: &endpoint.TriesError{Max: 2, Err: errors.New("unknown tag")}}
	}
	f := &fakeClient{rule: bad}
	r := &Runner{Client: f, Policy: policy}
	out := make([]Outcome, 2)
	r.Predict(context.Background(), texts(2), out)
	if n := len(f.sizes); n != 2 {
		t.Errorf("%d requests, want 2 (one retry)", n)
	}
	if errkind.KindOf(out[0].Err) != errkind.Retryable || errkind.ReasonOf(out[0].Err) != endpoint.ReasonBadResponse {
		t.Errorf("outcome %v is %v %q, want retryable bad_response", out[0].Err, errkind.KindOf(out[0].Err), errkind.ReasonOf(out[0].Err))
	}

	f = &fakeClient{rule: func([]string) error { return errkind.Errorf(errkind.Retryable, endpoint.ReasonServerError, "503") }}
	r = &Runner{Client: f, Policy: policy}
	r.Predict(context.Background(), texts(2), out)
	if n := len(f.sizes); n != 5 {
		t.Errorf("%d requests for a 503, want the policy's 5", n)
	}
}
