package modelserver_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
	"github.com/chorusml/chorus/worker/errkind"
)

// adapter is one way for a worker to reach the server.
type adapter struct {
	name string
	// spec points at base, the server's URL.
	spec func(base string) endpoint.Spec
	new  func(endpoint.Spec) (endpoint.Client, error)
	// version is what the adapter reports for the fake model.
	version string
}

var labels = []string{"negative", "neutral", "positive"}

func adapters() []adapter {
	oip := func(s endpoint.Spec) (endpoint.Client, error) { return openinference.New(s) }
	vtx := func(s endpoint.Spec) (endpoint.Client, error) { return vertex.New(s, vertex.Options{}) }
	te := func(s endpoint.Spec) (endpoint.Client, error) { return tei.New(s, tei.Options{}) }
	return []adapter{
		{"open-inference", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "sentiment", URL: b, Labels: labels}
		}, oip, "v1"},
		{"open-inference pinned", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "local-name", RemoteName: "sentiment", Version: "v1", URL: b, Labels: labels}
		}, oip, "v1"},
		{"vertex tf serving", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "sentiment", URL: b, Labels: labels}
		}, vtx, "v1"},
		{"vertex endpoint", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "s", URL: b + "/v1/projects/acme/locations/eu/endpoints/sentiment:predict", Labels: labels}
		}, vtx, "v1"},
		{"tei", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "sentiment", URL: b + "/tei/sentiment", Labels: labels}
		}, te, "v1"},
		{"labels in another order", func(b string) endpoint.Spec {
			return endpoint.Spec{Name: "sentiment", URL: b + "/tei/sentiment", Labels: []string{"positive", "negative", "neutral"}}
		}, te, "v1"},
	}
}

func TestAdaptersAgainstServer(t *testing.T) {
	texts := []string{"Support was quick but the app keeps crashing.", "ok", "", `"quoted" & <tagged> ünïcödé`}
	for _, a := range adapters() {
		t.Run(a.name, func(t *testing.T) {
			s, hs := newServer(t, modelserver.Options{})
			spec := a.spec(hs.URL)
			c, err := a.new(spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Predict(ctx(t), texts)
			if err != nil {
				t.Fatal(err)
			}
			want := wantScores(texts)
			// Reorder to the spec's labels.
			for i, row := range want {
				re := make([]float64, len(row))
				for j, l := range spec.Labels {
					re[j] = row[indexOf(labels, l)]
				}
				want[i] = re
			}
			if !reflect.DeepEqual(res.Scores, want) {
				t.Errorf("scores %v, want %v", res.Scores, want)
			}
			if res.Version != a.version {
				t.Errorf("version %q, want %q", res.Version, a.version)
			}
			if got := stats(s); got.Batches != 1 || got.Items != int64(len(texts)) || got.MaxBatch != int64(len(texts)) {
				t.Errorf("stats %+v", got)
			}
		})
	}
}

// Every injected fault must reach the worker as the error kind its retry
// and dead-letter logic branch on.
func TestFaultsThroughAdapters(t *testing.T) {
	tests := []struct {
		name  string
		opts  modelserver.Options
		fault modelserver.Fault
		// spec adjusts the adapter's spec.
		spec func(*endpoint.Spec)
		want errkind.Error
	}{
		{name: "503 retry-after", fault: modelserver.Fault{Status: 503, RetryAfter: 2 * time.Second},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError, RetryAfter: 2 * time.Second}},
		{name: "429 retry-after rounds up", fault: modelserver.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonRateLimited, RetryAfter: 2 * time.Second}},
		{name: "500", fault: modelserver.Fault{Status: 500},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
		{name: "400", fault: modelserver.Fault{Status: 400},
			want: errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBadRequest}},
		{name: "401", fault: modelserver.Fault{Status: 401},
			want: errkind.Error{Kind: errkind.Misconfigured, Reason: endpoint.ReasonUnauthorized}},
		{name: "batch too large", opts: modelserver.Options{MaxBatch: 2},
			want: errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge}},
		{name: "NaN", fault: modelserver.Fault{NaN: true},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}},
		{name: "out of range", fault: modelserver.Fault{OutOfRange: true},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}},
		{name: "wrong count", fault: modelserver.Fault{WrongCount: true},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}},
		{name: "unknown label, strict", fault: modelserver.Fault{UnknownLabel: true},
			spec: func(s *endpoint.Spec) { s.StrictLabels = true },
			want: errkind.Error{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{name: "garbage", fault: modelserver.Fault{Garbage: true},
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}},
		{name: "slow", fault: modelserver.Fault{Delay: time.Hour},
			spec: func(s *endpoint.Spec) { s.Timeout = 20 * time.Millisecond },
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonTimeout}},
		{name: "slow model", opts: modelserver.Options{BatchCost: time.Hour},
			spec: func(s *endpoint.Spec) { s.Timeout = 20 * time.Millisecond },
			want: errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonTimeout}},
		{name: "unknown model", spec: func(s *endpoint.Spec) {
			// The model is named by the URL (vertex endpoints, tei), the
			// remote name, or the name.
			s.URL = strings.ReplaceAll(s.URL, "sentiment", "nope")
			if s.RemoteName != "" {
				s.RemoteName = "nope"
			} else {
				s.Name = "nope"
			}
		}, want: errkind.Error{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound}},
	}
	texts := []string{"a", "bb", "ccc"}
	for _, a := range adapters() {
		for _, tc := range tests {
			t.Run(a.name+"/"+tc.name, func(t *testing.T) {
				s, hs := newServer(t, tc.opts)
				if err := s.SetFault("sentiment", tc.fault); err != nil {
					t.Fatal(err)
				}
				spec := a.spec(hs.URL)
				if tc.spec != nil {
					tc.spec(&spec)
				}
				c, err := a.new(spec)
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Predict(ctx(t), texts)
				if err == nil {
					t.Fatalf("Predict succeeded, want %v %q", tc.want.Kind, tc.want.Reason)
				}
				if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != tc.want.Kind || r != tc.want.Reason {
					t.Errorf("error %v: %v %q, want %v %q", err, k, r, tc.want.Kind, tc.want.Reason)
				}
				if ra, _ := errkind.RetryAfterOf(err); ra != tc.want.RetryAfter {
					t.Errorf("RetryAfter %v, want %v", ra, tc.want.RetryAfter)
				}
			})
		}
	}
}

func TestVersionPinMismatch(t *testing.T) {
	_, hs := newServer(t, modelserver.Options{})
	for _, newClient := range []func(endpoint.Spec) (endpoint.Client, error){
		func(s endpoint.Spec) (endpoint.Client, error) { return openinference.New(s) },
		func(s endpoint.Spec) (endpoint.Client, error) { return vertex.New(s, vertex.Options{}) },
	} {
		c, err := newClient(endpoint.Spec{Name: "sentiment", Version: "v0", URL: hs.URL, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Predict(ctx(t), []string{"a"})
		if k, r := errkind.KindOf(err), errkind.ReasonOf(err); k != errkind.Misconfigured || r != endpoint.ReasonNotFound {
			t.Errorf("pinned to a missing version: %v (%v %q), want misconfigured not_found", err, k, r)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
