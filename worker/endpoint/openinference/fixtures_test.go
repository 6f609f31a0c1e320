package openinference_test

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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

type manifestEntry struct {
	File      string          `json:"file"`
	Status    int             `json:"status"`
	Headers   json.RawMessage `json:"headers"`
	Server    string          `json:"server"`
	Kind      string          `json:"kind"`
	Origin    string          `json:"origin"`
	Changed   string          `json:"changed"`
	Describes string          `json:"describes"`
}

// header reads the entry's headers, written either as name: value or
// name: [values].
func (e manifestEntry) header() http.Header {
	h := http.Header{}
	var one map[string]string
	if json.Unmarshal(e.Headers, &one) == nil {
		for k, v := range one {
			h.Set(k, v)
		}
		return h
	}
	var many map[string][]string
	if json.Unmarshal(e.Headers, &many) == nil {
		for k, vs := range many {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	return h
}

// loadManifest reads the manifest, an array of entries or an object
// holding one under "fixtures"; ok is false while it is not collected.
func loadManifest(t *testing.T) (entries map[string]manifestEntry, ok bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var list []manifestEntry
	if err := json.Unmarshal(b, &list); err != nil {
		var wrapped struct {
			Fixtures []manifestEntry `json:"fixtures"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			t.Fatalf("manifest.json: %v", err)
		}
		list = wrapped.Fixtures
	}
	entries = make(map[string]manifestEntry, len(list))
	for _, e := range list {
		if e.File == "" || e.Origin == "" {
			t.Errorf("manifest entry %+v has no file or origin", e)
		}
		entries[e.File] = e
	}
	return entries, true
}

func readFixture(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
}

// echoServer answers body as a server that echoes the request's id does:
// a recorded answer carries the id of the request it answered (Triton's
// docs' "42", a KServe uuid), so the replay puts the id of the request
// being answered in its place. Nothing else of the body changes.
func echoServer(t *testing.T, status int, h http.Header, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID string `json:"id"`
		}
		if b, err := io.ReadAll(r.Body); err == nil && json.Unmarshal(b, &req) == nil && req.ID != "" {
			if loc := idRE.FindStringIndex(body); loc != nil {
				body = body[:loc[0]] + `"id":"` + req.ID + `"` + body[loc[1]:]
			}
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var idRE = regexp.MustCompile(`"id"\s*:\s*"[^"]*"`)

var (
	sentiment2 = []string{"negative", "positive"}
	iris       = []string{"setosa", "versicolor", "virginica"}
	cifar10    = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	four       = []string{"l0", "l1", "l2", "l3"}
)

func want(k errkind.Kind, reason string) *adaptertest.Want {
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
	// The spec's own examples are not valid JSON (a comma is missing):
	// refused as a bad answer, never a crash or a guess.
	{file: "spec-infer-response.verbatim.txt", opts: tensors("text", openinference.ShapeN1, "output0", openinference.FormatLogits, ""), texts: 3,
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},
	{file: "triton-infer-classification-doc.verbatim.txt", labels: four, opts: openinference.Options{Input: openinference.Input{Name: "text"},
		Output: openinference.Output{Name: "output0", Format: openinference.FormatClassification, Classification: 2}},
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},
	{file: "triton-infer-classification-labels-doc.verbatim.txt", labels: four, opts: openinference.Options{Input: openinference.Input{Name: "text"},
		Output: openinference.Output{Name: "output0", Format: openinference.FormatClassification, Classification: 2}},
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "not JSON"},
	// The same example, made valid: FP32 [3,2] read as logits.
	{file: "spec-infer-response.json", labels: sentiment2, opts: tensors("text", openinference.ShapeN1, "output0", openinference.FormatLogits, ""), texts: 3,
		scores: [][]float64{{0.475021, 0.524979}, {0.475021, 0.524979}, {0.475021, 0.524979}}},
	{file: "triton-infer-cifar10-fp32.json", labels: cifar10, opts: tensors("INPUT__0", openinference.ShapeN1, "OUTPUT__0", openinference.FormatLogits, openinference.ActivationSoftmax),
		scores:  [][]float64{{0.003944, 0.027983, 0.01928, 0.525442, 0.018321, 0.235578, 0.09923, 0.00788, 0.058505, 0.003838}},
		version: "1"},
	// Not classifiers: a [1,16] INT32 tensor is no class index, a
	// tokenizer's INT64 ids are no probabilities. Said, not misread.
	{file: "triton-infer-int32-two-outputs.json", opts: tensors("INPUT0", openinference.ShapeN1, "OUTPUT0", openinference.FormatClassIndex, ""),
		err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "OUTPUT0"},
	{file: "triton-infer-int64-tokenizer.json", opts: tensors("text", openinference.ShapeN, "input_ids", openinference.FormatProbabilities, ""),
		err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input_ids"},
	// Triton's classification of raw scores 3.3 and 2.4: not
	// probabilities, and the error says which setting fixes it.
	{file: "triton-infer-classification.json", labels: four, opts: openinference.Options{Input: openinference.Input{Name: "text"},
		Output: openinference.Output{Name: "output0", Format: openinference.FormatClassification, Classification: 2}},
		err: want(errkind.Retryable, endpoint.ReasonBadResponse), msg: "probabilit"},
	{file: "kserve-hf-textcls-classids.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatClassIndex, ""), texts: 2,
		scores: [][]float64{{0, 1}, {1, 0}}},
	{file: "kserve-hf-textcls-probabilities.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatHFProbabilities, ""), texts: 2,
		scores: [][]float64{{0.0002, 0.9998}, {0.9991, 0.0009}}},
	{file: "kserve-hf-textcls-raw-logits.json", labels: sentiment2, opts: tensors("input-0", openinference.ShapeN, "output-0", openinference.FormatHFProbabilities, openinference.ActivationSoftmax), texts: 2,
		scores: [][]float64{{0.000217, 0.999783}, {0.999087, 0.000913}}},
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
	{file: "triton-metadata-simple-string.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "INPUT1"},
	{file: "kserve-metadata-hf.json", metadata: true, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "input.name"},
	// With the input named, a metadata that describes no tensors is fine.
	{file: "kserve-metadata-hf.json", metadata: true, labels: sentiment2,
		opts: openinference.Options{Input: openinference.Input{Name: "input-0"}, Output: openinference.Output{Format: openinference.FormatHFProbabilities}}},

	// Error answers.
	{file: "triton-error-batch-size.json", opts: errOpts, err: want(errkind.Permanent, endpoint.ReasonBatchTooLarge), msg: "<= 8"},
	{file: "triton-error-unknown-model.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "unknown model"},
	{file: "triton-error-unknown-model-namespaced-400.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "unknown model"},
	{file: "triton-error-model-not-ready.json", opts: errOpts, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "ready"},
	{file: "triton-error-unknown-input.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "INPUT_X"},
	{file: "triton-error-unknown-output.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "DUMMY"},
	{file: "triton-error-datatype-mismatch.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "data-type"},
	{file: "triton-error-shape-mismatch.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "shape"},
	{file: "triton-error-json-element-type-500.json", opts: errOpts, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "Unable to parse"},
	{file: "kserve-error-model-not-found.json", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonNotFound), msg: "does not exist"},
	{file: "kserve-error-model-not-ready.json", opts: errOpts, err: want(errkind.Retryable, endpoint.ReasonServerError), msg: "not ready"},

	// The binary tensor extension, either spelling of its header: refused
	// with what to change, never read as JSON.
	{file: "triton-infer-binary-doc.bin", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary"},
	{file: "triton-infer-binary-classification.bin", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary"},
	{file: "kserve-infer-binary-mixed.bin", opts: errOpts, err: want(errkind.Misconfigured, endpoint.ReasonIncompatible), msg: "binary"},
}

func TestFixtures(t *testing.T) {
	entries, ok := loadManifest(t)
	if !ok {
		t.Fatalf("%s/manifest.json is missing", fixtureDir)
	}
	used := map[string]bool{}
	for _, tc := range fixtureCases {
		used[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			e, ok := entries[tc.file]
			if !ok {
				t.Fatalf("%s is not in manifest.json", tc.file)
			}
			status := e.Status
			if status == 0 {
				status = 200
			}
			srv := echoServer(t, status, e.header(), readFixture(t, tc.file))
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
