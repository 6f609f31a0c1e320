package sagemaker_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/sagemaker"
	"github.com/chorusml/chorus/worker/errkind"
)

// fixtureDir holds SageMaker's bodies; manifest.json records each one's
// origin.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "sagemaker")

func reply(t testing.TB, file string) adaptertest.Reply {
	t.Helper()
	rep, err := adaptertest.FixtureReply(fixtureDir, file)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// mustReply is reply for the suite's hooks, which have no t.
func mustReply(file string) adaptertest.Reply {
	rep, err := adaptertest.FixtureReply(fixtureDir, file)
	if err != nil {
		panic(err)
	}
	return rep
}

// fixtureCase is what one recorded answer must come to, through the
// signed SDK client.
type fixtureCase struct {
	name   string
	file   string
	opts   sagemaker.Options
	labels []string
	texts  int
	want   [][]float64
	kind   errkind.Kind
	reason errkind.Reason
	msg    string // the error must say this
}

var (
	hfLabels = []string{"NEGATIVE", "POSITIVE"}
	btJSON   = sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText, LabelPrefix: "__label__"}
	btLines  = sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText, K: 2, LabelPrefix: "__label__"}
)

func fixtureCases() []fixtureCase {
	return []fixtureCase{
		{name: "toolkit: top label per text", file: "hf-predict-text-classification.json", labels: hfLabels, texts: 1, want: [][]float64{{0, 0.99}}},
		{name: "toolkit: top_k per text", file: "hf-predict-top-k-batch.json", opts: sagemaker.Options{Parameters: map[string]string{"top_k": "2"}}, labels: hfLabels, texts: 2,
			want: [][]float64{{0.0001210561968036927, 0.9998788833618164}, {0.9997544884681702, 0.0002454846107866615}}},
		{name: "toolkit: top_k, one text per request is one short", file: "hf-predict-top-k-batch.json", labels: hfLabels, texts: 1, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse},
		{name: "blazingtext json, label before prob", file: "blazingtext-predict-json-k1.json", opts: btJSON, labels: []string{"Helpful", "NotHelpful"}, texts: 1, want: [][]float64{{0, 0.735004723072052}}},
		{name: "blazingtext json, fastText's 1.00001", file: "blazingtext-predict-json-over-one.json", opts: btJSON, labels: []string{"0", "1"}, texts: 1, want: [][]float64{{1, 0}}},
		{name: "blazingtext jsonlines k=2", file: "blazingtext-predict-jsonlines-k2.jsonl", opts: btLines, labels: []string{"1", "2"}, texts: 2, want: [][]float64{{0.9, 0.1}, {0.4, 0.6}}},
		{name: "blazingtext jsonlines, no prefix configured", file: "blazingtext-predict-jsonlines-k2.jsonl", opts: sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText}, labels: []string{"1", "2"}, texts: 2,
			kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "__label__1"},
		{name: "tf serving regression outputs are not probabilities", file: "tfs-predict-rows-2d.json", opts: sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponsePredictions}, labels: []string{"a", "b"}, texts: 2,
			kind: errkind.Retryable, reason: endpoint.ReasonBadResponse, msg: "not a probability"},
		{name: "toolkit's 400 through ModelError", file: "model-error-toolkit-400.json", kind: errkind.Permanent, reason: endpoint.ReasonBadRequest, msg: "gpt_neox"},
		{name: "container's 500 through ModelError", file: "model-error-worker-died-500.json", kind: errkind.Retryable, reason: endpoint.ReasonServerError, msg: "Worker died"},
		{name: "container timed out", file: "model-error-timeout-0.json", kind: errkind.Retryable, reason: endpoint.ReasonTimeout, msg: "timed out"},
		{name: "endpoint not found", file: "validation-error-endpoint-not-found.json", kind: errkind.Misconfigured, reason: endpoint.ReasonNotFound, msg: "not found"},
		{name: "inference component scaled to zero", file: "validation-error-no-capacity.json", kind: errkind.Retryable, reason: endpoint.ReasonServerError, msg: "no capacity"},
		{name: "model not ready", file: "model-not-ready-429.json", kind: errkind.Retryable, reason: endpoint.ReasonRateLimited, msg: "ModelNotReadyException"},
		{name: "service unavailable", file: "service-unavailable-503.json", kind: errkind.Retryable, reason: endpoint.ReasonServerError, msg: "ServiceUnavailable"},
		{name: "internal failure", file: "internal-failure-500.json", kind: errkind.Retryable, reason: endpoint.ReasonServerError, msg: "InternalFailure"},
		{name: "internal dependency", file: "internal-dependency-530.json", kind: errkind.Retryable, reason: endpoint.ReasonServerError, msg: "InternalDependencyException"},
		{name: "throttled as 400", file: "throttling-400.json", kind: errkind.Retryable, reason: endpoint.ReasonRateLimited, msg: "Rate exceeded"},
		{name: "bad token as 400", file: "access-denied-400.json", kind: errkind.Misconfigured, reason: endpoint.ReasonUnauthorized, msg: "security token"},
	}
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases() {
		t.Run(tc.name, func(t *testing.T) {
			rep := reply(t, tc.file)
			srv := adaptertest.Serve(t, rep.Status, rep.Header, rep.Body)
			opts := tc.opts
			opts.Region, opts.Credentials = "us-east-1", static
			spec := adaptertest.Spec(srv.URL)
			if tc.labels != nil {
				spec.Labels = tc.labels
			}
			c, err := sagemaker.New(spec, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := tc.texts
			if n == 0 {
				n = 2
			}
			texts := make([]string, n)
			for i := range texts {
				texts[i] = "text"
			}
			res, err := c.Predict(adaptertest.Context(t), texts)
			if tc.kind == errkind.Unknown {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Scores, tc.want) {
					t.Errorf("scores %v, want %v", res.Scores, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v %s", tc.kind, tc.reason)
			}
			if got := errkind.KindOf(err); got != tc.kind {
				t.Errorf("kind of %v = %v, want %v", err, got, tc.kind)
			}
			if got := errkind.ReasonOf(err); got != tc.reason {
				t.Errorf("reason of %v = %q, want %q", err, got, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "123456789012") || strings.Contains(err.Error(), "AKIDEXAMPLE") {
				t.Errorf("error %q names the account or the key", err)
			}
		})
	}
}

// The request forms are the ones the servers document.
func TestRequestFixtures(t *testing.T) {
	tests := []struct {
		file string
		opts sagemaker.Options
		// keys the documented body's object (or each line's) has, that
		// ours must have too
		keys []string
	}{
		{"hf-request-inputs.json", sagemaker.Options{}, []string{"inputs"}},
		{"blazingtext-request-instances-k.json", sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText, K: 2}, []string{"instances", "configuration"}},
		{"blazingtext-request-jsonlines-k.jsonl", sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText, K: 2}, []string{"source", "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, doc, err := adaptertest.ReadFixture(fixtureDir, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			srv := adaptertest.NewCapture(t, 503, nil, errorBody(503, "down"))
			_, _ = signed(t, srv.URL, tc.opts).Predict(adaptertest.Context(t), []string{"the movie was excellent", "i did not like the plot ."})
			ours := srv.Next(t).Body
			for _, body := range []string{doc, ours} {
				for line := range strings.SplitSeq(strings.TrimSpace(body), "\n") {
					var v map[string]json.RawMessage
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						// A pretty-printed document is one value.
						if err := json.Unmarshal([]byte(body), &v); err != nil {
							t.Fatalf("%q: %v", body, err)
						}
					}
					for _, k := range tc.keys {
						if _, ok := v[k]; !ok {
							t.Errorf("body %q has no %q", body, k)
						}
					}
					if len(v) != len(tc.keys) {
						t.Errorf("body %q has keys beyond %v", body, tc.keys)
					}
				}
			}
			if tc.opts.Request == sagemaker.RequestInstances {
				var d, o struct{ Instances []string }
				_ = json.Unmarshal([]byte(doc), &d)
				_ = json.Unmarshal([]byte(ours), &o)
				if !reflect.DeepEqual(d.Instances, o.Instances) {
					t.Errorf("instances %q, want the documented %q", o.Instances, d.Instances)
				}
			}
		})
	}
}

// Every fixture in the manifest is proven by some case.
func TestEveryFixtureUsed(t *testing.T) {
	used := map[string]bool{"hf-request-inputs.json": true, "blazingtext-request-instances-k.json": true, "blazingtext-request-jsonlines-k.jsonl": true}
	for _, tc := range fixtureCases() {
		used[tc.file] = true
	}
	adaptertest.CheckFixtures(t, fixtureDir, used)
}
