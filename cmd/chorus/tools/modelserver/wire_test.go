package modelserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
)

// protocolDir holds real servers' requests and answers, collected from
// their docs, tests and source, one file per body.
var protocolDir = filepath.Join("..", "..", "..", "..", "testdata", "protocols")

// Requests in each dialect's own form. The texts "ab" and "abcd" score
// 0.75 on labels 2 and 1, 0.125 on the others.
const (
	tritonBody       = `{"inputs":[{"name":"TEXT","shape":[2,1],"datatype":"BYTES","data":["ab","abcd"]}],"outputs":[{"name":"logits"}]}`
	tritonClassify   = `{"id":"c1","inputs":[{"name":"TEXT","shape":[2,1],"datatype":"BYTES","data":[["ab"],["abcd"]]}],"outputs":[{"name":"logits","parameters":{"classification":2}}]}`
	tritonThree      = `{"inputs":[{"name":"TEXT","shape":[3,1],"datatype":"BYTES","data":["a","b","c"]}]}`
	kserveBody       = `{"id":"k1","inputs":[{"name":"input-0","shape":[2],"datatype":"BYTES","data":["ab","abcd"]}]}`
	tabularBody      = `{"instances":[{"text":"ab"},{"text":"abcd"}]}`
	tfBody           = `{"instances":["ab","abcd"]}`
	tfThree          = `{"instances":["a","b","c"]}`
	teiThree         = `{"inputs":[["a"],["b"],["c"]]}`
	logit075, logit0 = -0.2876821, -2.0794415 // log 0.75, log 0.125 in FP32
)

var (
	triton  = modelserver.Dialects{OpenInference: modelserver.OIPTriton}
	kserve  = modelserver.Dialects{OpenInference: modelserver.OIPKServeHF}
	tabular = modelserver.Dialects{Vertex: modelserver.VertexTabular}
	tfserv  = modelserver.Dialects{Vertex: modelserver.VertexTFServing}
)

func TestDialectAnswers(t *testing.T) {
	tests := []struct {
		name     string
		dialects modelserver.Dialects
		maxBatch int
		method   string
		path     string
		body     string
		status   int
		// want is JSON the answer must equal; "" skips the comparison.
		want string
		// fixture, under protocolDir, is a real server's answer of the
		// same kind: the answer must have its structure.
		fixture string
		check   func(t *testing.T, body string)
	}{
		// Triton.
		{name: "triton server metadata", dialects: triton, method: "GET", path: "/v2", status: 200,
			check: func(t *testing.T, body string) {
				var md struct{ Name string }
				if json.Unmarshal([]byte(body), &md); md.Name != "triton" || !strings.Contains(body, `"classification"`) {
					t.Errorf("server metadata %s", body)
				}
			}},
		{name: "triton model metadata", dialects: triton, method: "GET", path: "/v2/models/sentiment", status: 200,
			fixture: "open-inference/triton-metadata-tokenizer-bytes.json",
			want: `{"name":"sentiment","versions":["1"],"platform":"python",
			"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1,1]}],
			"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]}]}`},
		{name: "triton model config", dialects: triton, maxBatch: 8, method: "GET", path: "/v2/models/sentiment/config", status: 200,
			want: `{"name":"sentiment","platform":"","backend":"python","max_batch_size":8,
			"input":[{"name":"TEXT","data_type":"TYPE_STRING","dims":[1]}],
			"output":[{"name":"logits","data_type":"TYPE_FP32","dims":[3],"label_filename":"labels.txt"}]}`},
		{name: "triton config without a limit", dialects: triton, method: "GET", path: "/v2/models/sentiment/versions/1/config", status: 200,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, fmt.Sprintf(`"max_batch_size":%d`, math.MaxInt32)) {
					t.Errorf("config %s", body)
				}
			}},
		{name: "triton ready", dialects: triton, method: "GET", path: "/v2/models/sentiment/ready", status: 200},
		{name: "triton logits", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer", body: tritonBody, status: 200,
			fixture: "open-inference/triton-infer-cifar10-fp32.json",
			check: func(t *testing.T, body string) {
				var got struct {
					ModelName    string `json:"model_name"`
					ModelVersion string `json:"model_version"`
					Outputs      []struct {
						Name     string    `json:"name"`
						Datatype string    `json:"datatype"`
						Shape    []int     `json:"shape"`
						Data     []float32 `json:"data"`
					} `json:"outputs"`
				}
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("%s: %v", body, err)
				}
				want := []float32{logit0, logit0, logit075, logit0, logit075, logit0}
				if got.ModelName != "sentiment" || got.ModelVersion != "1" || len(got.Outputs) != 1 {
					t.Fatalf("answer %s", body)
				}
				o := got.Outputs[0]
				if o.Name != "logits" || o.Datatype != "FP32" || !slices.Equal(o.Shape, []int{2, 3}) || !slices.Equal(o.Data, want) {
					t.Errorf("output %+v, want logits FP32 [2 3] %v", o, want)
				}
			}},
		{name: "triton all outputs when none asked", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"TEXT","shape":[1,1],"datatype":"BYTES","data":["ab"]}]}`, status: 200,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"name":"logits","datatype":"FP32","shape":[1,3]`) {
					t.Errorf("answer %s", body)
				}
			}},
		{name: "triton classification", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer", body: tritonClassify, status: 200,
			fixture: "open-inference/triton-infer-classification.json",
			want: `{"id":"c1","model_name":"sentiment","model_version":"1","outputs":[{"name":"logits","datatype":"BYTES","shape":[2,2],
			"data":["-0.287682:2:positive","-2.079442:0:negative","-0.287682:1:neutral","-2.079442:0:negative"]}]}`},
		{name: "triton classification over the classes", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: strings.Replace(tritonClassify, `"classification":2`, `"classification":5`, 1), status: 200,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"shape":[2,3]`) {
					t.Errorf("answer %s", body)
				}
			}},
		{name: "triton batch over max_batch_size", dialects: triton, maxBatch: 2, method: "POST", path: "/v2/models/sentiment/infer", body: tritonThree, status: 400,
			fixture: "open-inference/triton-error-batch-size.json",
			want:    `{"error":"[request id: <id_unknown>] inference request batch-size must be <= 2 for 'sentiment'"}`},
		{name: "triton unknown input", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"id":"r1","inputs":[{"name":"text","shape":[1,1],"datatype":"BYTES","data":["a"]}]}`, status: 400,
			fixture: "open-inference/triton-error-unknown-input.json",
			want:    `{"error":"unexpected inference input 'text' for model 'sentiment'"}`},
		{name: "triton unknown output", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: strings.Replace(tritonBody, `"name":"logits"`, `"name":"probabilities"`, 1), status: 400,
			fixture: "open-inference/triton-error-unknown-output.json",
			want:    `{"error":"unexpected inference output 'probabilities' for model 'sentiment'"}`},
		{name: "triton datatype", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"TEXT","shape":[1,1],"datatype":"FP32","data":[1]}]}`, status: 400,
			fixture: "open-inference/triton-error-datatype-mismatch.json",
			want:    `{"error":"[request id: <id_unknown>] inference input 'TEXT' data-type is 'FP32', but model 'sentiment' expects 'BYTES'"}`},
		{name: "triton shape", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"TEXT","shape":[2],"datatype":"BYTES","data":["a","b"]}]}`, status: 400,
			fixture: "open-inference/triton-error-shape-mismatch.json",
			check: func(t *testing.T, body string) {
				const want = `{"error":"[request id: <id_unknown>] unexpected shape for input 'TEXT' for model 'sentiment'. Expected [-1,1], got [2]. NOTE: Setting a non-zero max_batch_size`
				if !strings.HasPrefix(body, want) {
					t.Errorf("answer %s, want it to start %s", body, want)
				}
			}},
		{name: "triton two inputs", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"TEXT","shape":[1,1],"datatype":"BYTES","data":["a"]},{"name":"X","shape":[1,1],"datatype":"BYTES","data":["a"]}]}`, status: 400,
			want: `{"error":"[request id: <id_unknown>] expected 1 inputs but got 2 inputs for model 'sentiment'. Got input(s) ['TEXT','X'], but missing required input(s) ]. Please provide all required input(s)."}`},
		{name: "triton no input of its name", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[]}`, status: 400,
			want: `{"error":"[request id: <id_unknown>] expected 1 inputs but got 0 inputs for model 'sentiment'. Got input(s) [], but missing required input(s) ['TEXT']. Please provide all required input(s)."}`},
		{name: "triton bad JSON is internal", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer", body: `{"inputs":`, status: 500},
		{name: "triton data count is internal", dialects: triton, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"TEXT","shape":[3,1],"datatype":"BYTES","data":["a","b"]}]}`, status: 500,
			want: `{"error":"Failed to parse 'data' field: shape does not match true shape"}`},
		{name: "triton version not a number", dialects: triton, method: "POST", path: "/v2/models/sentiment/versions/v1/infer", body: tritonBody, status: 400,
			want: `{"error":"failed to get model version from specified version string 'v1'"}`},
		{name: "triton version", dialects: triton, method: "POST", path: "/v2/models/sentiment/versions/1/infer", body: tritonBody, status: 200},
		{name: "triton unknown model", dialects: triton, method: "POST", path: "/v2/models/nope/infer", body: tritonBody, status: 404,
			fixture: "open-inference/triton-error-unknown-model.json",
			want:    `{"error":"Request for unknown model: 'nope' is not found"}`},
		{name: "triton unknown version", dialects: triton, method: "GET", path: "/v2/models/sentiment/versions/7", status: 404,
			want: `{"error":"Request for unknown model: 'sentiment' version 7 is not found"}`},

		// KServe's Hugging Face runtime.
		{name: "kserve metadata", dialects: kserve, method: "GET", path: "/v2/models/sentiment", status: 200,
			fixture: "open-inference/kserve-metadata-hf.json",
			want:    `{"name":"sentiment","versions":null,"platform":"","inputs":[],"outputs":[]}`},
		{name: "kserve ready", dialects: kserve, method: "GET", path: "/v2/models/sentiment/ready", status: 200,
			want: `{"name":"sentiment","ready":true}`},
		{name: "kserve live", dialects: kserve, method: "GET", path: "/v2/health/live", status: 200, want: `{"live":true}`},
		{name: "kserve infer", dialects: kserve, method: "POST", path: "/v2/models/sentiment/infer", body: kserveBody, status: 200,
			fixture: "open-inference/kserve-hf-textcls-probabilities.json",
			want: `{"model_name":"sentiment","model_version":null,"id":"k1","parameters":null,"outputs":[{"name":"output-0","shape":[2],
			"datatype":"BYTES","parameters":null,"data":["{0: 0.125, 1: 0.125, 2: 0.75}","{0: 0.125, 1: 0.75, 2: 0.125}"]}]}`},
		{name: "kserve names an unnamed request", dialects: kserve, method: "POST", path: "/v2/models/sentiment/infer",
			body: `{"inputs":[{"name":"whatever","shape":[1],"datatype":"BYTES","data":["ab"]}]}`, status: 200,
			check: func(t *testing.T, body string) {
				var got struct{ ID string }
				if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.ID) != 36 || got.ID[14] != '4' {
					t.Errorf("id %q, want a uuid4 (%v)", got.ID, err)
				}
			}},
		{name: "kserve refuses versions", dialects: kserve, method: "POST", path: "/v2/models/sentiment/versions/v1/infer", body: kserveBody, status: 501,
			want: `{"error":"Model versioning not supported yet."}`},
		{name: "kserve unknown model", dialects: kserve, method: "POST", path: "/v2/models/nope/infer", body: kserveBody, status: 404,
			fixture: "open-inference/kserve-error-model-not-found.json",
			want:    `{"error":"Model with name nope does not exist."}`},

		// Vertex tabular.
		{name: "tabular predict", dialects: tabular, method: "POST", path: "/v1/projects/acme/locations/eu/endpoints/sentiment:predict", body: tabularBody, status: 200,
			want: `{"predictions":[
			{"scores":[0.125,0.125,0.75],"classes":["negative","neutral","positive"]},
			{"scores":[0.125,0.75,0.125],"classes":["negative","neutral","positive"]}],
			"deployedModelId":"sentiment","model":"projects/acme/locations/eu/models/sentiment",
			"modelDisplayName":"sentiment","modelVersionId":"v1"}`,
			// No real tabular answer is on record; its envelope is every
			// Vertex answer's.
			check: func(t *testing.T, body string) {
				assertSameKeys(t, body, "vertex/vertex-automl-classification-predict.json")
			}},
		{name: "tabular two columns", dialects: tabular, method: "POST", path: "/v1/models/sentiment:predict",
			body: `{"instances":[{"text":"ab","lang":"en"}]}`, status: 400},
		{name: "tabular unknown model", dialects: tabular, method: "POST", path: "/v1/models/nope:predict", body: tabularBody, status: 404,
			want: `{"error":{"code":404,"message":"model \"nope\" not found","status":"NOT_FOUND"}}`},

		// TF Serving.
		{name: "tf predict", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: tfBody, status: 200,
			fixture: "vertex/tfserving-predict-rows-2d.json",
			want:    `{"predictions":[[0.125,0.125,0.75],[0.125,0.75,0.125]]}`},
		{name: "tf named input", dialects: tfserv, method: "POST", path: "/v1/models/sentiment/versions/v1:predict",
			body: `{"signature_name":"serving_default","instances":[{"text":"ab"}]}`, status: 200,
			want: `{"predictions":[[0.125,0.125,0.75]]}`},
		{name: "tf columnar", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: `{"inputs":["ab"]}`, status: 200,
			want: `{"outputs":[[0.125,0.125,0.75]]}`},
		{name: "tf wrong input name", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: vertexBody, status: 400,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"error":"JSON object: does not have named input: `) {
					t.Errorf("answer %s", body)
				}
			}},
		{name: "tf not a string", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: `{"instances":[1]}`, status: 400,
			fixture: "vertex/tfserving-error-400-type-mismatch.json",
			want:    `{"error":"JSON Value: 1 Type: Number is not of expected type: string"}`},
		{name: "tf no instances", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: `{}`, status: 400,
			want: `{"error":"Missing 'inputs' or 'instances' key"}`},
		{name: "tf unknown signature", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict",
			body: `{"signature_name":"predict","instances":["a"]}`, status: 400,
			fixture: "vertex/tfserving-error-400-bad-signature.json",
			want:    `{"error":"Serving signature name: \"predict\" not found in signature def"}`},
		{name: "tf batch over the limit", dialects: tfserv, maxBatch: 2, method: "POST", path: "/v1/models/sentiment:predict", body: tfThree, status: 400,
			want: `{"error":"Task size 3 is larger than maximum input batch size 2"}`},
		{name: "tf signature not a string", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict",
			body: `{"signature_name":100,"instances":["a"]}`, status: 400,
			want: `{"error":"'signature_name' key must be a string value."}`},
		{name: "tf empty body", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", status: 400,
			want: `{"error":"JSON Parse error: The document is empty"}`},
		{name: "tf invalid body", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: `{"instances":`, status: 400,
			want: `{"error":"JSON Parse error: Invalid value"}`},
		{name: "tf malformed path", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:explain", body: tfBody, status: 400,
			want: `{"error":"Malformed request: POST /v1/models/sentiment:explain"}`},
		{name: "tf scores by label position", dialects: tfserv, method: "POST", path: "/v1/models/sentiment:predict", body: `{"instances":["abc"]}`, status: 200,
			want: `{"predictions":[[0.75,0.125,0.125]]}`},
		{name: "tf unknown model", dialects: tfserv, method: "POST", path: "/v1/models/nope:predict", body: tfBody, status: 404,
			fixture: "vertex/tfserving-error-404-servable-not-found.json",
			want:    `{"error":"Servable not found for request: Latest(nope)"}`},
		{name: "tf unknown version", dialects: tfserv, method: "POST", path: "/v1/models/sentiment/versions/7:predict", body: tfBody, status: 404,
			want: `{"error":"Servable not found for request: Specific(sentiment, 7)"}`},
		{name: "tf model status", dialects: tfserv, method: "GET", path: "/v1/models/sentiment", status: 200,
			want: `{"model_version_status":[{"version":"v1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]}`},

		// TEI.
		{name: "tei batch over max_client_batch_size", maxBatch: 2, method: "POST", path: "/tei/sentiment/predict", body: teiThree, status: 422,
			fixture: "tei/error-batch-size.json",
			want:    `{"error":"batch size 3 > maximum allowed batch size 2","error_type":"Validation"}`},
		{name: "tei empty batch", method: "POST", path: "/tei/sentiment/predict", body: `{"inputs":[]}`, status: 400,
			fixture: "tei/error-empty.json",
			want:    `{"error":"Input validation error: ` + "`inputs`" + ` cannot be empty","error_type":"Empty"}`},
		{name: "tei predict", method: "POST", path: "/tei/sentiment/predict", body: teiBody, status: 200,
			fixture: "tei/predict-go-emotions-batch.json"},
		{name: "tei info", maxBatch: 8, method: "GET", path: "/tei/sentiment/info", status: 200,
			fixture: "tei/info-classifier-go-emotions.json"},
		{name: "tei info without a limit", method: "GET", path: "/tei/sentiment/info", status: 200,
			check: func(t *testing.T, body string) {
				var info map[string]any
				if err := json.Unmarshal([]byte(body), &info); err != nil {
					t.Fatal(err)
				}
				if info["max_client_batch_size"] != float64(math.MaxInt32) {
					t.Errorf("max_client_batch_size %v, want %d", info["max_client_batch_size"], math.MaxInt32)
				}
				for _, k := range []string{"model_id", "model_dtype", "model_type", "max_concurrent_requests", "max_input_length",
					"max_batch_tokens", "max_client_batch_size", "auto_truncate", "tokenization_workers", "version"} {
					if _, ok := info[k]; !ok {
						t.Errorf("/info lacks %q, which TEI's Info schema requires", k)
					}
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, hs := newServer(t, modelserver.Options{Dialects: tc.dialects, MaxBatch: tc.maxBatch})
			status, h, body := do(t, tc.method, hs.URL+tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", tc.method, tc.path, status, tc.status, body)
			}
			if body != "" && h.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
			if tc.want != "" {
				assertJSONEqual(t, body, tc.want)
			}
			if tc.fixture != "" {
				assertSameShape(t, body, tc.fixture)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

// KServe's runtime rounds probabilities to 4 places before writing the
// dict.
func TestKServeRounds(t *testing.T) {
	m := newFake("sentiment")
	m.labels = []string{"a", "b", "c", "d"}
	_, hs := newServer(t, modelserver.Options{Dialects: kserve}, m)
	_, _, body := do(t, "POST", hs.URL+"/v2/models/sentiment/infer", `{"inputs":[{"name":"input-0","shape":[1],"datatype":"BYTES","data":["ab"]}]}`)
	if want := `"data":["{0: 0.0833, 1: 0.0833, 2: 0.75, 3: 0.0833}"]`; !strings.Contains(body, want) {
		t.Errorf("answer %s, want it to hold %s", body, want)
	}
}

// The default dialects are what they were before dialects existed:
// choosing them by name changes nothing.
func TestDefaultDialectsByName(t *testing.T) {
	named := modelserver.Dialects{OpenInference: modelserver.OIPChorus, Vertex: modelserver.VertexAutoML, TEI: modelserver.TEI}
	for _, r := range []struct{ path, body string }{
		{"/v2/models/sentiment/infer", oipBody},
		{"/v1/models/sentiment:predict", vertexBody},
		{"/tei/sentiment/predict", teiBody},
	} {
		_, def := newServer(t, modelserver.Options{})
		_, byName := newServer(t, modelserver.Options{Dialects: named})
		s1, _, b1 := do(t, "POST", def.URL+r.path, r.body)
		s2, _, b2 := do(t, "POST", byName.URL+r.path, r.body)
		if s1 != 200 || s1 != s2 || b1 != b2 {
			t.Errorf("%s: default %d %s, by name %d %s", r.path, s1, b1, s2, b2)
		}
	}
}

// Faults reach every dialect's answer.
func TestDialectFaults(t *testing.T) {
	tests := []struct {
		name     string
		dialects modelserver.Dialects
		path     string
		body     string
		fault    modelserver.Fault
		contains string
	}{
		{"triton unknown label", triton, "/v2/models/sentiment/infer", tritonBody, modelserver.Fault{UnknownLabel: true}, `"shape":[2,4]`},
		{"triton classification unknown label", triton, "/v2/models/sentiment/infer", tritonClassify, modelserver.Fault{UnknownLabel: true}, `:LABEL_0"`},
		{"triton NaN", triton, "/v2/models/sentiment/infer", tritonBody, modelserver.Fault{NaN: true}, `"data":["NaN",`},
		{"kserve unknown label", kserve, "/v2/models/sentiment/infer", kserveBody, modelserver.Fault{UnknownLabel: true}, `, 3: 0.0}`},
		{"kserve wrong count", kserve, "/v2/models/sentiment/infer", kserveBody, modelserver.Fault{WrongCount: true}, `"shape":[3]`},
		{"tabular unknown label", tabular, "/v1/models/sentiment:predict", tabularBody, modelserver.Fault{UnknownLabel: true}, `"classes":["LABEL_0",`},
		{"tf unknown label", tfserv, "/v1/models/sentiment:predict", tfBody, modelserver.Fault{UnknownLabel: true}, `[0.125,0.125,0.75,0]`},
		{"tf NaN is a bare token", tfserv, "/v1/models/sentiment:predict", tfBody, modelserver.Fault{NaN: true}, `[[NaN,0.125,0.75]`},
		{"tf 503", tfserv, "/v1/models/sentiment:predict", tfBody, modelserver.Fault{Status: 503}, `{"error":"injected fault: HTTP 503"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, hs := newServer(t, modelserver.Options{Dialects: tc.dialects})
			if err := s.SetFault("sentiment", tc.fault); err != nil {
				t.Fatal(err)
			}
			_, _, body := do(t, "POST", hs.URL+tc.path, tc.body)
			if !strings.Contains(body, tc.contains) {
				t.Errorf("answer %s, want it to hold %s", body, tc.contains)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("answer %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("answer %s\nwant   %s", got, want)
	}
}

// assertSameKeys checks that got's top-level keys are the fixture's.
func assertSameKeys(t *testing.T, got, fixture string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(protocolDir, fixture))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("fixture %s is not collected", fixture)
	}
	if err != nil {
		t.Fatal(err)
	}
	var g, w map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("answer %s: %v", got, err)
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("fixture %s: %v", fixture, err)
	}
	gk, wk := slices.Sorted(maps.Keys(g)), slices.Sorted(maps.Keys(w))
	if !slices.Equal(gk, wk) {
		t.Errorf("answer's keys %v, the real server's (%s) %v", gk, fixture, wk)
	}
}

// assertSameShape checks that got has the structure of the fixture file:
// the same keys, the same JSON types, arrays of the same nesting.
func assertSameShape(t *testing.T, got, fixture string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(protocolDir, fixture))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("fixture %s is not collected", fixture)
	}
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("answer %s: %v", got, err)
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("fixture %s: %v", fixture, err)
	}
	if err := sameShape("$", g, w); err != nil {
		t.Errorf("answer %s\nhas not the shape of %s:\n%s\n%v", got, fixture, b, err)
	}
}

func sameShape(path string, got, want any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", path, got)
		}
		if isDictionary(path) {
			// Keyed by data (labels, ids): only the values' type is the
			// server's.
			for _, wv := range w {
				for k, gv := range g {
					if err := sameShape(path+"."+k, gv, wv); err != nil {
						return err
					}
				}
				break
			}
			return nil
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				return fmt.Errorf("%s: no key %q", path, k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: key %q, which the real server does not write", path, k)
			}
		}
		for k := range w {
			if err := sameShape(path+"."+k, g[k], w[k]); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an array", path, got)
		}
		if len(w) == 0 || len(g) == 0 {
			return nil
		}
		for i := range g {
			if err := sameShape(fmt.Sprintf("%s[%d]", path, i), g[i], w[0]); err != nil {
				return err
			}
		}
	default:
		if reflect.TypeOf(got) != reflect.TypeOf(want) {
			return fmt.Errorf("%s: %v (%T), want a %T like %v", path, got, got, want, want)
		}
	}
	return nil
}

// isDictionary reports whether the object at path maps data to data, as
// TEI's id2label and label2id do.
func isDictionary(path string) bool {
	return strings.HasSuffix(path, ".id2label") || strings.HasSuffix(path, ".label2id")
}
