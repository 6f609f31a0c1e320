package vertex_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
	"github.com/chorusml/chorus/worker/errkind"
)

// fixtureDir holds real server answers and requests, each recorded in
// manifest.json with its origin; WIRE.md there describes the formats.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "vertex")

func fixture(t testing.TB, file string) (adaptertest.Fixture, string) {
	t.Helper()
	e, body, err := adaptertest.ReadFixture(fixtureDir, file)
	if err != nil {
		t.Fatal(err)
	}
	return e, body
}

// replay serves a recorded answer with its status and headers.
func replay(t *testing.T, file string) string {
	e, body := fixture(t, file)
	return adaptertest.Serve(t, e.StatusOrOK(), e.Header(), body).URL
}

// A fixture case: the answer replayed to a client with these options and
// labels, for n texts, and what the client must make of it.
type fixtureCase struct {
	file    string
	opts    vertex.Options
	labels  []string
	n       int
	scores  [][]float64      // on success
	version string           // on success
	want    adaptertest.Want // on failure (Kind non-zero)
	msg     string           // in the error
}

var (
	rateLimited  = adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonRateLimited}
	badResponse  = adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}
	badRequest   = adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBadRequest}
	incompatible = adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}
	notFound     = adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound}
)

var (
	probabilities = vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionProbabilities}
	classIndex    = vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionClassIndex}
	iris          = []string{"setosa", "versicolor", "virginica"}
	binary        = []string{"negative", "positive"}
)

var fixtureCases = []fixtureCase{
	// Vertex AI.
	{file: "vertex-automl-classification-predict.json", labels: []string{"apple", "banana"}, n: 1,
		scores: [][]float64{{0.999999285, 0}}, version: "1"},
	{file: "vertex-custom-predict-no-modelversionid.json", opts: probabilities, labels: []string{"defect"}, n: 1,
		scores: [][]float64{{0.384460628}}},
	// A regression model's bare number is not a class index.
	{file: "vertex-custom-predict-scalar-v2.json", opts: classIndex, labels: binary, n: 1, want: badResponse, msg: "a number"},
	{file: "vertex-error-429-quota-no-details.json", n: 2, want: rateLimited, msg: "Quota exceeded"},
	{file: "vertex-error-429-quota-array-wrapped.json", n: 2, want: rateLimited, msg: "Quota exceeded"},
	{file: "google-error-429-retryinfo.json", n: 2, msg: "exhausted your",
		want: adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonRateLimited, RetryAfter: 2463586755 * time.Nanosecond}},
	{file: "google-error-429-aip193.json", n: 2, want: rateLimited, msg: "does not have enough resources"},
	{file: "google-error-403-permission-denied.json", n: 2, msg: "denied",
		want: adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonUnauthorized}},
	// Hugging Face's container on Vertex.
	{file: "hf-vertex-predict-text-classification.json", opts: vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionLabelScore},
		labels: []string{"NEGATIVE", "POSITIVE"}, n: 2,
		scores: [][]float64{{0.0001210561968036927, 0.9998788833618164}, {0.9997544884681702, 0.0002454846107866615}}},
	{file: "hf-vertex-error-400-no-instances.json", n: 2, want: badRequest, msg: "must contain a key 'instances'"},
	// TF Serving.
	{file: "tfserving-predict-half-plus-three.json", opts: probabilities, labels: []string{"y"}, n: 3, want: badResponse, msg: "a number"},
	// A regression model's outputs are not probabilities.
	{file: "tfserving-predict-rows-2d.json", opts: probabilities, labels: binary, n: 2, want: badResponse, msg: "not a probability"},
	// Several named outputs, none of them scores and classes.
	{file: "tfserving-predict-named-outputs.json", opts: vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionScoresClasses},
		labels: binary, n: 2, want: badResponse, msg: "double_scalar_tensor"},
	{file: "tfserving-predict-nonfinite.notjson.txt", opts: probabilities, labels: binary, n: 2, want: badResponse, msg: "not JSON"},
	// The classify API's answer, not predict's.
	{file: "tfserving-classify-results.json", opts: probabilities, labels: []string{"car", "bike", "bus"}, n: 2, want: badResponse, msg: "0 predictions"},
	{file: "tfserving-classify-unlabeled.json", opts: probabilities, labels: []string{"x"}, n: 1, want: badResponse, msg: "0 predictions"},
	{file: "tfserving-error-400-batch-too-large.json", opts: probabilities, n: 2, msg: "maximum input batch size 64",
		want: adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge}},
	{file: "tfserving-error-404-servable-not-found.json", opts: probabilities, n: 2, want: notFound, msg: "Servable not found"},
	{file: "tfserving-error-400-bad-signature.json", opts: probabilities, n: 2, want: incompatible, msg: "vertex.signature_name"},
	{file: "tfserving-error-400-type-mismatch.json", opts: probabilities, n: 2, want: incompatible, msg: "not of expected type: float"},
	// KServe V1.
	{file: "kserve-v1-predict-sklearn-iris.json", opts: classIndex, labels: iris, n: 2, scores: [][]float64{{0, 1, 0}, {0, 1, 0}}},
	{file: "kserve-v1-predict-hf-classids.json", opts: classIndex, labels: binary, n: 2, scores: [][]float64{{0, 1}, {1, 0}}},
	{file: "kserve-v1-predict-hf-probabilities.json", opts: probabilities, labels: binary, n: 2, scores: [][]float64{{0.0012, 0.9988}, {0.0012, 0.9988}}},
	{file: "kserve-v1-error-404-model-not-found.json", opts: probabilities, n: 2, want: notFound, msg: "does not exist"},
	{file: "kserve-v1-error-400-instances-not-list.json", opts: probabilities, n: 2, want: badRequest, msg: "to be a list"},
	{file: "kserve-v1-error-503-model-not-ready.json", opts: probabilities, n: 2, msg: "not ready",
		want: adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			spec := adaptertest.Spec(replay(t, tc.file))
			if tc.labels != nil {
				spec.Labels = tc.labels
			}
			c, err := vertex.New(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Predict(adaptertest.Context(t), make([]string, tc.n))
			if tc.want.Kind != errkind.Unknown {
				adaptertest.Check(t, err, tc.want)
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not contain %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Scores, tc.scores) {
				t.Errorf("scores %v, want %v", res.Scores, tc.scores)
			}
			if res.Version != tc.version {
				t.Errorf("version %q, want %q", res.Version, tc.version)
			}
		})
	}
}

// requestCases compare the client's request with a documented one. The
// instances of a fixture that holds no texts (numeric models) are
// replaced with the texts: it shows the envelope only.
var requestCases = []struct {
	file  string
	opts  vertex.Options
	texts []string
}{
	{"vertex-request-automl-text.json", vertex.Options{}, []string{"I love this product"}},
	{"hf-vertex-request-text-classification.json", vertex.Options{Instance: vertex.InstanceString, Parameters: map[string]string{"top_k": "2"}},
		[]string{"I love this product", "I hate this product"}},
	{"kserve-v1-request-hf-strings.json", vertex.Options{Instance: vertex.InstanceString}, []string{"Hello, my dog is cute", "I am feeling sad"}},
	{"tfserving-request-signature-name.json", vertex.Options{Instance: vertex.InstanceString, SignatureName: "serving_default"}, []string{"a", "b"}},
	{"tfserving-request-instances.json", vertex.Options{Instance: vertex.InstanceString}, []string{"a", "b", "c"}},
	{"kserve-v1-request-iris.json", vertex.Options{Instance: vertex.InstanceString}, []string{"a", "b"}},
	{"vertex-request-custom-nested-instances.json", vertex.Options{Instance: vertex.InstanceString}, []string{"a"}},
}

func TestRequestFixtures(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.file, func(t *testing.T) {
			_, body := fixture(t, tc.file)
			var want map[string]any
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			if !hasTexts(want["instances"]) {
				inst := make([]any, len(tc.texts))
				for i, s := range tc.texts {
					inst[i] = s
				}
				want["instances"] = inst
			}
			wb, _ := json.Marshal(want)
			sameJSON(t, requestBody(t, tc.opts, tc.texts), string(wb))
		})
	}
}

// Outside Vertex mode Hugging Face's container takes {"inputs": [...]};
// the client always sends the {"instances": [...]} form Vertex routes,
// even when each instance is {"inputs": text}.
func TestRequestNotHFLocalForm(t *testing.T) {
	_, body := fixture(t, "hf-request-inputs-non-vertex-mode.json")
	var local map[string]any
	if err := json.Unmarshal([]byte(body), &local); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(requestBody(t, vertex.Options{Instance: vertex.InstanceInputs}, []string{"I love this product"}), &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := local["inputs"]; !ok {
		t.Fatal("fixture has no top-level inputs")
	}
	if _, ok := got["inputs"]; ok {
		t.Errorf("request %v has a top-level inputs", got)
	}
	if _, ok := got["instances"]; !ok {
		t.Errorf("request %v has no instances", got)
	}
}

func hasTexts(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	switch e := l[0].(type) {
	case string:
		return true
	case map[string]any:
		_, ok := e["content"]
		return ok
	}
	return false
}

// hookFixtures are the fixtures the common suite's hooks are built from
// (replies_test.go).
var hookFixtures = []string{
	"google-error-429-aip193.json",
	"hf-vertex-error-400-no-instances.json",
	"tfserving-error-400-bad-signature.json",
	"tfserving-error-400-type-mismatch.json",
	"tfserving-error-404-servable-not-found.json",
	"google-error-403-permission-denied.json",
	"kserve-v1-error-404-model-not-found.json",
	"hf-request-inputs-non-vertex-mode.json", // TestRequestNotHFLocalForm
}

// Every fixture in the manifest must be replayed by some case.
func TestEveryFixtureUsed(t *testing.T) {
	used := map[string]bool{}
	for _, c := range fixtureCases {
		used[c.file] = true
	}
	for _, c := range requestCases {
		used[c.file] = true
	}
	for _, f := range hookFixtures {
		used[f] = true
	}
	adaptertest.CheckFixtures(t, fixtureDir, used)
}
