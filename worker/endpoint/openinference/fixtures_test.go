package openinference_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/errkind"
)

// fixtureDir holds real server answers, each recorded in manifest.json
// with its origin.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "open-inference")

// manifestEntry is a manifest entry; the loader is the suite's.
type manifestEntry = adaptertest.Fixture

func readManifest() (map[string]manifestEntry, error) { return adaptertest.Manifest(fixtureDir) }

func readFixture(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureReply is a recorded answer as the suite replays it: status,
// headers and body. The suite's hooks take no *testing.T, so a fixture
// that cannot be read panics, failing the test binary.
func fixtureReply(file string) adaptertest.Reply {
	rep, err := adaptertest.FixtureReply(fixtureDir, file)
	if err != nil {
		panic(err)
	}
	return rep
}

// batchTooLarge is Triton's recorded batch-size refusal with the suite's
// limit in place of the recording's 8.
func batchTooLarge(limit, _ int) (int, string) {
	rep := fixtureReply("triton-error-batch-size.json")
	return rep.Status, strings.Replace(rep.Body, "<= 8 ", "<= "+strconv.Itoa(limit)+" ", 1)
}

// invalidInput is a refusal of one text. It is constructed, in the form
// KServe's InvalidInput handler writes (400 {"error": reason},
// kserve/kserve python/kserve/kserve/errors.py), because no recorded
// answer refuses a text: Triton checks only a request's form (names,
// datatypes, shapes), never what a BYTES element holds, and every
// recorded 400 is the same for every batch.
func invalidInput(msg string) (int, string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return http.StatusBadRequest, string(b)
}

// serveFixture replays a recorded answer to every request, byte for
// byte, with the recorded status and headers.
func serveFixture(t *testing.T, e manifestEntry, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range e.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(e.StatusOrOK())
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fixtureCase replays one fixture against the client: an infer answer
// (Predict) or a metadata answer (Start).
type fixtureCase struct {
	file     string
	labels   []string // default adaptertest.Labels
	opts     openinference.Options
	metadata bool
	texts    int
	// Expected outcome: scores and version, or an error classification
	// and a part of its message.
	scores  [][]float64
	version string
	err     *adaptertest.Want
	msg     string
	limit   int // the batch limit a batch_too_large error carries
}

var (
	sentiment2 = []string{"negative", "positive"}
	iris       = []string{"setosa", "versicolor", "virginica"}
	cifar10    = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	four       = []string{"l0", "l1", "l2", "l3"}
)

func want(k errkind.Kind, reason errkind.Reason) *adaptertest.Want {
	return &adaptertest.Want{Kind: k, Reason: reason}
}

func tensors(in string, shape openinference.Shape, out string, f openinference.Format, a openinference.Activation) openinference.Options {
	return openinference.Options{
		Input:  openinference.Input{Name: in, Shape: shape},
		Output: openinference.Output{Name: out, Format: f, Activation: a},
	}
}

// errOpts names the tensors, so that an error answer is the infer call's
// (metadata errors have cases of their own).
var errOpts = tensors("text", openinference.ShapeN1, "probabilities", openinference.FormatProbabilities, "")

// fixtureCases names every fixture in the manifest; TestFixtures fails on
// a fixture no case uses.
var fixtureCases = []fixtureCase{
	// The docs' own examples are not valid JSON (a comma is missing):
	// refused as a bad answer, never a crash or a guess.
	{file: "spec-infer-response.verbatim.txt", labels: sentiment2, opts: tensors("text", openinference.ShapeN1, "output0", openinference.FormatLogits, ""), texts: 3,
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},
	{file: "triton-infer-classification-doc.verbatim.txt", labels: four, opts: classification(2, ""),
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},
	{file: "triton-infer-classification-labels-doc.verbatim.txt", labels: four, opts: classification(2, ""),
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},

	// The spec's example made valid: FP32 [3,2] read as logits; its id
	// "42" is not the request's, and no model_name or version is given.
	{file: "spec-infer-response.json", labels: sentiment2, opts: tensors("text", openinference.ShapeN1, "output0", openinference.FormatLogits, ""), texts: 3,
		scores: [][]float64{{0.475021, 0.524979}, {0.475021, 0.524979}, {0.475021, 0.524979}}},
	// The same values as probabilities: 1.1 is none.
	{file: "spec-infer-response.json", labels: sentiment2, opts: tensors("text", openinference.ShapeN1, "output0", openinference.FormatProbabilities, ""), texts: 3,
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "format to logits"},
	{file: "triton-infer-cifar10-fp32.json", labels: cifar10, opts: tensors("INPUT__0", openinference.ShapeN1, "OUTPUT__0", openinference.FormatLogits, openinference.ActivationSoftmax),
		scores:  [][]float64{{0.003944, 0.027983, 0.01928, 0.525442, 0.018321, 0.235578, 0.09923, 0.00788, 0.058505, 0.003838}},
		version: "1"},
	// Not classifiers: a [1,16] INT32 tensor is no class index, a
	// tokenizer's INT64 ids are no probabilities. Said, not misread.
	{file: "triton-infer-int32-two-outputs.json", opts: tensors("INPUT0", openinference.ShapeN1, "OUTPUT0", openinference.FormatClassIndex, ""),
		err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "OUTPUT0"},
	{file: "triton-infer-int64-tokenizer.json", opts: tensors("text", openinference.ShapeN, "input_ids", openinference.FormatProbabilities, ""),
		err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input_ids"},
	// Triton classifies raw values (3.3, 2.4): not probabilities, and
	// the error names the setting; with it, sigmoid per returned class.
	{file: "triton-infer-classification.json", labels: four, opts: classification(2, ""),
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "activation to softmax"},
	{file: "triton-infer-classification.json", labels: four, opts: classification(2, openinference.ActivationSigmoid),
		scores: [][]float64{{0, 0.964429, 0, 0.916827}}, version: "1"},
	// A model without a batch dimension answers [K] for all the texts:
	// it takes one per request.
	{file: "triton-infer-classification.json", labels: four, opts: classification(2, openinference.ActivationSigmoid), texts: 2,
		err: want(errkind.Permanent, endpoint.ReasonBatchTooLarge), msg: "does not batch", limit: 1},
	{file: "kserve-hf-textcls-classids.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatClassIndex, ""), texts: 2,
		scores: [][]float64{{0, 1}, {1, 0}}},
	// Shape [2,1] as the docs show it; the runtime's code gives [2].
	{file: "kserve-hf-textcls-probabilities.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatHFProbabilities, ""), texts: 2,
		scores: [][]float64{{0.0002, 0.9998}, {0.9991, 0.0009}}},
	{file: "kserve-hf-textcls-raw-logits.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatHFProbabilities, openinference.ActivationSoftmax), texts: 2,
		scores: [][]float64{{0.000217, 0.999783}, {0.999087, 0.000913}}},
	{file: "kserve-hf-textcls-raw-logits.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatHFProbabilities, ""), texts: 2,
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "activation to softmax"},
	{file: "kserve-sklearn-iris-int64.json", labels: iris, opts: tensors("input-0", openinference.ShapeN, "predict", openinference.FormatClassIndex, ""), texts: 2,
		scores: [][]float64{{0, 1, 0}, {0, 1, 0}}, version: "v1.0.0"},
	{file: "kserve-sklearn-v2-iris-output0.json", labels: iris, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatClassIndex, ""),
		scores: [][]float64{{1, 0, 0}}, version: "1"},
	// XGBoost writes its class ids as FP32 whole numbers.
	{file: "kserve-xgboost-iris-fp32.json", labels: iris, opts: tensors("input-0", openinference.ShapeN, "predict", openinference.FormatClassIndex, ""), texts: 2,
		scores: [][]float64{{0, 1, 0}, {0, 1, 0}}, version: "v1.0.0"},
	{file: "kserve-lightgbm-iris-fp64-proba.json", labels: iris, opts: tensors("input-0", openinference.ShapeN, "predict", openinference.FormatProbabilities, ""), texts: 2,
		scores: [][]float64{{8.796664107010673e-06, 0.9992300031041593, 0.0007612002317336916}, {4.974786820804187e-06, 0.9999919650711493, 3.0601420299625077e-06}}},

	// Metadata at Start: what it offers is named when it does not fit.
	{file: "kserve-metadata-example.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input0"},
	{file: "triton-metadata-tokenizer-bytes.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input_ids"},
	// The text input found ([-1]: [N]) and the one output a class index
	// can be read from, named.
	{file: "triton-metadata-tokenizer-bytes.json", metadata: true,
		opts: openinference.Options{Output: openinference.Output{Name: "input_ids", Format: openinference.FormatClassIndex}}, version: "1"},
	{file: "triton-metadata-simple-string.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "INPUT1"},
	{file: "triton-metadata-simple-string.json", metadata: true, opts: openinference.Options{Input: openinference.Input{Name: "INPUT0"}},
		err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "not shaped [N] or [N,1]"},
	{file: "kserve-metadata-hf.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "set open_inference.input.name (input-0"},
	// With the input named, a metadata that describes no tensors is fine.
	{file: "kserve-metadata-hf.json", metadata: true, labels: sentiment2,
		opts: openinference.Options{Input: openinference.Input{Name: "input-0"}, Output: openinference.Output{Format: openinference.FormatHFProbabilities}}},

	// Error answers to an infer request.
	{file: "triton-error-batch-size.json", opts: errOpts, err: want(errkind.Permanent, endpoint.ReasonBatchTooLarge), msg: "<= 8", limit: 8},
	{file: "triton-error-unknown-model.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "unknown model"},
	{file: "triton-error-unknown-model-namespaced-400.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "unknown model"},
	{file: "triton-error-model-not-ready.json", opts: errOpts, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "ready"},
	{file: "triton-error-unknown-input.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "INPUT_X"},
	{file: "triton-error-unknown-output.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "DUMMY"},
	{file: "triton-error-datatype-mismatch.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "data-type"},
	{file: "triton-error-shape-mismatch.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input.shape"},
	// A 500, but the same for every batch: the JSON data does not fit
	// the datatype it is read as.
	{file: "triton-error-json-element-type-500.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "Unable to parse"},
	{file: "kserve-error-model-not-found.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "does not exist"},
	{file: "kserve-error-model-not-ready.json", opts: errOpts, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "not ready"},
	// The same answers to the metadata request at Start.
	{file: "triton-error-unknown-model.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "model metadata"},
	{file: "triton-error-unknown-model-namespaced-400.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "unknown model"},
	{file: "triton-error-model-not-ready.json", metadata: true, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "ready"},
	{file: "kserve-error-model-not-found.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "does not exist"},
	{file: "kserve-error-model-not-ready.json", metadata: true, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "not ready"},

	// The binary tensor extension, the header's name in either case:
	// refused with what to change, never read as JSON.
	{file: "triton-infer-binary-doc.bin", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary tensor extension"},
	{file: "triton-infer-binary-classification.bin", labels: four, opts: classification(3, ""), err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary tensor extension"},
	{file: "kserve-infer-binary-mixed.bin", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary tensor extension"},
}

func classification(k int, a openinference.Activation) openinference.Options {
	return openinference.Options{Input: openinference.Input{Name: "text"},
		Output: openinference.Output{Name: "output0", Format: openinference.FormatClassification, Classification: k, Activation: a}}
}

func TestFixtures(t *testing.T) {
	entries, err := readManifest()
	if err != nil {
		t.Fatalf("the recorded answers are needed: %v", err)
	}
	used := map[string]bool{}
	for _, tc := range fixtureCases {
		used[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			e, ok := entries[tc.file]
			if !ok {
				t.Fatalf("%s is not in manifest.json", tc.file)
			}
			srv := serveFixture(t, e, readFixture(t, tc.file))
			spec := adaptertest.Spec(srv.URL)
			if tc.labels != nil {
				spec.Labels = tc.labels
			}
			c, err := openinference.New(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var scores [][]float64
			var version string
			if tc.metadata {
				info, err2 := c.Start(adaptertest.Context(t))
				err, version = err2, info.Version
			} else {
				n := tc.texts
				if n == 0 {
					n = 1
				}
				texts := make([]string, n)
				for i := range texts {
					texts[i] = "txt"
				}
				res, err2 := c.Predict(adaptertest.Context(t), texts)
				err = err2
				if res != nil {
					scores, version = res.Scores, res.Version
				}
			}
			if tc.err != nil {
				adaptertest.Check(t, err, *tc.err)
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				if got, _ := endpoint.BatchLimit(err); got != tc.limit {
					t.Errorf("batch limit %d, want %d", got, tc.limit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.scores != nil && !near(scores, tc.scores) {
				t.Errorf("scores %v, want %v", scores, tc.scores)
			}
			if version != tc.version {
				t.Errorf("version %q, want %q", version, tc.version)
			}
		})
	}
	for file := range entries {
		if !used[file] {
			t.Errorf("fixture %s in manifest.json is used by no case", file)
		}
	}
}

// The suite's hooks are the recordings, their numbers changed: a
// replacement that matched nothing would replay the recorded limit.
func TestSuiteHooksReplayRecordings(t *testing.T) {
	status, body := batchTooLarge(3, 5)
	if want := `{"error":"[request id: <id_unknown>] inference request batch-size must be <= 3 for 'simple'"}`; status != 400 || body != want {
		t.Errorf("batchTooLarge = %d %s, want 400 %s", status, body, want)
	}
}
