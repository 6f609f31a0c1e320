package openinference_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/errkind"
)

// named configures the reference tensor names, so that no metadata is
// read: the suite's servers answer every request alike.
var named = openinference.Options{
	Input:  openinference.Input{Name: "text"},
	Output: openinference.Output{Name: "probabilities"},
}

func protocol() adaptertest.Protocol {
	return adaptertest.Protocol{
		New: func(s endpoint.Spec) (endpoint.Client, error) { return openinference.New(s, named) },
		Path: func(s endpoint.Spec) string {
			return "/v2/models/" + s.Name + "/infer"
		},
		ErrorBody: func(_ int, msg string) string {
			b, _ := json.Marshal(map[string]string{"error": msg})
			return string(b)
		},
		OKBody:        okBody,
		BatchTooLarge: batchTooLarge,
		InvalidInput:  invalidInput,
		// Recorded answers whose every repeat is the same: Triton's and
		// KServe's words for a request form the model refuses, a model
		// the server does not know (old Triton: 400), and binary outputs.
		Misconfigured: []adaptertest.Reply{
			fixtureReply("triton-error-unknown-input.json"),
			fixtureReply("triton-error-unknown-output.json"),
			fixtureReply("triton-error-datatype-mismatch.json"),
			fixtureReply("triton-error-shape-mismatch.json"),
			fixtureReply("triton-error-json-element-type-500.json"),
			fixtureReply("triton-error-unknown-model.json"),
			fixtureReply("triton-error-unknown-model-namespaced-400.json"),
			fixtureReply("kserve-error-model-not-found.json"),
			fixtureReply("triton-infer-binary-doc.bin"),
			fixtureReply("kserve-infer-binary-mixed.bin"),
		},
		OKBodyVersion: func(n int, v string) (string, http.Header) {
			vb, _ := json.Marshal(v)
			return strings.Replace(okBody(n), `"model_version":"3"`, `"model_version":`+string(vb), 1), nil
		},
	}
}

// okBody is an infer response as the protocol documents it: outputs with
// name, shape, datatype and row-major flat data.
func okBody(n int) string {
	data := make([]string, 0, 3*n)
	for range n {
		data = append(data, "0.1", "0.2", "0.7")
	}
	return fmt.Sprintf(`{"model_name":"sentiment","model_version":"3",`+
		`"outputs":[{"name":"probabilities","shape":[%d,3],"datatype":"FP32","data":[%s]}]}`,
		n, strings.Join(data, ","))
}

func TestCommon(t *testing.T) { adaptertest.Run(t, protocol()) }

func TestPredict(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantScores  [][]float64
		wantVersion string
	}{
		{
			name: "flat FP32",
			body: `{"model_name":"sentiment","model_version":"3","id":"1",
				"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32",
				"data":[0.1,0.2,0.7,0.6,0.3,0.1]}]}`,
			wantScores:  [][]float64{{0.1, 0.2, 0.7}, {0.6, 0.3, 0.1}},
			wantVersion: "3",
		},
		{
			name: "nested FP64 with exponents and no version",
			body: `{"model_name":"sentiment","outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP64",
				"data":[[1e-3, 0, 9.99E-1], [1, 0.0, 0]]}]}`,
			wantScores: [][]float64{{0.001, 0, 0.999}, {1, 0, 0}},
		},
		{
			name: "other outputs alongside",
			body: `{"model_name":"sentiment","model_version":"v2","outputs":[
				{"name":"label","shape":[2],"datatype":"BYTES","data":["positive","negative"]},
				{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`,
			wantScores:  [][]float64{{0, 0, 1}, {1, 0, 0}},
			wantVersion: "v2",
		},
		{
			// Older KServe runtimes and custom predictors answer a uuid of
			// their own, whatever id the request had.
			name: "an id the server made up",
			body: `{"model_name":"sentiment","model_version":null,"id":"823248cc-d770-4a51-9606-16803395569c","parameters":null,
				"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","parameters":null,"data":[0,0,1,1,0,0]}]}`,
			wantScores: [][]float64{{0, 0, 1}, {1, 0, 0}},
		},
		{
			name: "FP32 rounding just past 1 is clamped",
			body: `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32",
				"data":[1.0000001,0,0,0,-0.0000001,1]}]}`,
			wantScores: [][]float64{{1, 0, 0}, {0, 0, 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := openinference.New(adaptertest.Spec(srv.URL), named)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Scores, tc.wantScores) {
				t.Errorf("scores %v, want %v", res.Scores, tc.wantScores)
			}
			if res.Version != tc.wantVersion {
				t.Errorf("version %q, want %q", res.Version, tc.wantVersion)
			}
		})
	}
}

func TestBadResponses(t *testing.T) {
	tests := []struct{ name, body string }{
		{"no outputs", `{"model_name":"sentiment","outputs":[]}`},
		{"shape wrong count", `{"outputs":[{"name":"probabilities","shape":[3,3],"datatype":"FP32","data":[0,0,1,1,0,0,0,1,0]}]}`},
		{"data short", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0]}]}`},
		{"data long", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0,0]}]}`},
		{"data not array", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":"AAAA"}]}`},
		{"data missing", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32"}]}`},
		{"NaN string", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,"NaN",0,0]}]}`},
		{"NaN token", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,NaN,0,0]}]}`},
		{"Infinity string", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,"Infinity",0,0]}]}`},
		{"null value", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,null,0,0]}]}`},
		{"above one", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1.5,1,0,0]}]}`},
		{"negative", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,-0.2,0]}]}`},
		{"huge exponent", `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1e999,1,0,0]}]}`},
		{"array body", `[0,0,1,1,0,0]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := openinference.New(adaptertest.Spec(srv.URL), named)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse})
		})
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name     string
		spec     func(url string) endpoint.Spec
		wantPath string
	}{
		{"name", func(u string) endpoint.Spec { return adaptertest.Spec(u) }, "/v2/models/sentiment/infer"},
		{"remote name and version", func(u string) endpoint.Spec {
			s := adaptertest.Spec(u + "/base/")
			s.RemoteName = "sentiment-en"
			s.Version = "7"
			return s
		}, "/base/v2/models/sentiment-en/versions/7/infer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type request struct {
				path string
				body map[string]any
			}
			reqs := make(chan request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Errorf("request body: %v", err)
				}
				reqs <- request{r.URL.Path, body}
				fmt.Fprintf(w, `{"id":%q,"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, body["id"])
			}))
			defer srv.Close()
			c, err := openinference.New(tc.spec(srv.URL), named)
			if err != nil {
				t.Fatal(err)
			}
			texts := []string{`She said "fine" <b>`, "ünïcödé\n"}
			if _, err := c.Predict(adaptertest.Context(t), texts); err != nil {
				t.Fatal(err)
			}
			got := <-reqs
			if got.path != tc.wantPath {
				t.Errorf("path %q, want %q", got.path, tc.wantPath)
			}
			want := map[string]any{
				"id": got.body["id"],
				"inputs": []any{map[string]any{
					"name": "text", "shape": []any{2.0, 1.0}, "datatype": "BYTES",
					"data": []any{texts[0], texts[1]},
				}},
				"outputs": []any{map[string]any{"name": "probabilities"}},
			}
			if !reflect.DeepEqual(got.body, want) {
				t.Errorf("request %v\nwant %v", got.body, want)
			}
			if id, _ := got.body["id"].(string); id == "" {
				t.Errorf("request has no id")
			}
		})
	}
}

func TestScoresAreProbabilities(t *testing.T) {
	// A value written by an FP32 server parses to the float64 nearest its
	// decimal form; it must still be a probability.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"outputs":[{"name":"probabilities","shape":[1,3],"datatype":"FP32","data":[0.33333334,0.33333334,0.33333334]}]}`)
	}))
	defer srv.Close()
	c, _ := openinference.New(adaptertest.Spec(srv.URL), named)
	res, err := c.Predict(adaptertest.Context(t), []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Scores[0] {
		if math.Abs(v-1.0/3) > 1e-6 {
			t.Errorf("score %v, want 1/3", v)
		}
	}
}

func BenchmarkPredict(b *testing.B) { adaptertest.Bench(b, protocol()) }
