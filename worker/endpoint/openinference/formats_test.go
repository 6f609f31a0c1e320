package openinference_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/errkind"
)

func opts(out string, f openinference.Format) openinference.Options {
	return openinference.Options{Input: openinference.Input{Name: "TEXT"}, Output: openinference.Output{Name: out, Format: f}}
}

func near(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Abs(a[i][j]-b[i][j]) > 1e-6 {
				return false
			}
		}
	}
	return true
}

func TestFormats(t *testing.T) {
	sigmoid := opts("logits", openinference.FormatLogits)
	sigmoid.Output.Activation = openinference.ActivationSigmoid
	classifyLogits := opts("logits", openinference.FormatClassification)
	classifyLogits.Output.Activation = openinference.ActivationSoftmax
	// ln 8, ln 7, ln 2: softmax of [0, 0, ln 8] is [0.1, 0.1, 0.8].
	const ln8, ln7, ln2 = 2.0794415416798357, 1.9459101090932196, 0.6931471805599453
	tests := []struct {
		name    string
		opts    openinference.Options
		body    string
		want    [][]float64
		version string
	}{
		{"probabilities nested, version null, parameters null", opts("probabilities", ""),
			`{"model_name":"m","model_version":null,"parameters":null,"outputs":[{"name":"probabilities","datatype":"FP64","shape":[2,3],"parameters":{},"data":[[0.1,0.2,0.7],[0.6,0.3,0.1]]}]}`,
			[][]float64{{0.1, 0.2, 0.7}, {0.6, 0.3, 0.1}}, ""},
		{"logits softmax", opts("logits", openinference.FormatLogits),
			fmt.Sprintf(`{"model_name":"m","model_version":"1","outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[0,0,%v,%v,%v,0]}]}`, ln8, ln7, ln2),
			[][]float64{{0.1, 0.1, 0.8}, {0.7, 0.2, 0.1}}, "1"},
		{"logits sigmoid", sigmoid,
			`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[0,-1000,1000,0,0,0]}]}`,
			[][]float64{{0.5, 0, 1}, {0.5, 0.5, 0.5}}, ""},
		{"class index INT64 [N]", opts("label", openinference.FormatClassIndex),
			`{"outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]}]}`,
			[][]float64{{0, 0, 1}, {1, 0, 0}}, ""},
		{"class index INT32 [N,1] nested", opts("label", openinference.FormatClassIndex),
			`{"outputs":[{"name":"label","datatype":"INT32","shape":[2,1],"data":[[1],[2]]}]}`,
			[][]float64{{0, 1, 0}, {0, 0, 1}}, ""},
		{"class index FP64 whole numbers", opts("label", openinference.FormatClassIndex),
			`{"outputs":[{"name":"label","datatype":"FP64","shape":[2],"data":[2.0,0.0]}]}`,
			[][]float64{{0, 0, 1}, {1, 0, 0}}, ""},
		{"hf probabilities by index", opts("output-0", openinference.FormatHFProbabilities),
			`{"model_name":"m","model_version":null,"id":"1","parameters":null,"outputs":[{"name":"output-0","shape":[2],"datatype":"BYTES","parameters":null,"data":["{0: 0.0002, 1: 0.0001, 2: 0.9997}","{0: 0.9, 1: 0.05, 2: 0.05}"]}]}`,
			[][]float64{{0.0002, 0.0001, 0.9997}, {0.9, 0.05, 0.05}}, ""},
		{"hf probabilities by label", opts("output-0", openinference.FormatHFProbabilities),
			`{"outputs":[{"name":"output-0","shape":[2],"datatype":"BYTES","data":["{'negative': 0.2, 'positive': 0.8}","{'negative': 1e-05, 'neutral': 0.99999}"]}]}`,
			[][]float64{{0.2, 0, 0.8}, {0.00001, 0.99999, 0}}, ""},
		{"classification with labels, top 2", func() openinference.Options {
			o := opts("probabilities", openinference.FormatClassification)
			o.Output.Classification = 2
			return o
		}(),
			`{"model_name":"m","model_version":"1","outputs":[{"name":"probabilities","datatype":"BYTES","shape":[2,2],"data":["0.800000:2:positive","0.150000:1:neutral","0.700000:0:negative","0.200000:1:neutral"]}]}`,
			[][]float64{{0, 0.15, 0.8}, {0.7, 0.2, 0}}, "1"},
		{"classification by index, logits, all classes", classifyLogits,
			fmt.Sprintf(`{"outputs":[{"name":"logits","datatype":"BYTES","shape":[2,3],"data":["%v:2","0:0","0:1","%v:0","%v:1","0:2"]}]}`, ln8, ln7, ln2),
			[][]float64{{0.1, 0.1, 0.8}, {0.7, 0.2, 0.1}}, ""},
		{"the only output when no name is known", openinference.Options{Input: openinference.Input{Name: "TEXT"}},
			`{"outputs":[{"name":"output-0","datatype":"FP32","shape":[2,3],"data":[0,0,1,1,0,0]}]}`,
			[][]float64{{0, 0, 1}, {1, 0, 0}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			c, err := openinference.New(adaptertest.Spec(srv.URL), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.opts.Output.Name == "" {
				// Metadata listing no outputs, as KServe's Python runtimes do.
				c = startWith(t, tc.opts, `{"name":"sentiment","inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1]}],"outputs":[]}`, tc.body)
			}
			res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			if !near(res.Scores, tc.want) {
				t.Errorf("scores %v, want %v", res.Scores, tc.want)
			}
			if res.Version != tc.version {
				t.Errorf("version %q, want %q", res.Version, tc.version)
			}
		})
	}
}

// startWith returns a started client of a server answering GETs with
// metadata and POSTs with infer.
func startWith(t *testing.T, o openinference.Options, metadata, infer string) *openinference.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, metadata)
			return
		}
		io.WriteString(w, infer)
	}))
	t.Cleanup(srv.Close)
	c, err := openinference.New(adaptertest.Spec(srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(adaptertest.Context(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnusableResponses(t *testing.T) {
	tests := []struct {
		name string
		opts openinference.Options
		body string
		want adaptertest.Want
	}{
		{"wrong output name", named, `{"outputs":[{"name":"logits","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"wrong datatype", named, `{"outputs":[{"name":"probabilities","shape":[2,3],"datatype":"INT64","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"one dim", named, `{"outputs":[{"name":"probabilities","shape":[6],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"label dimension", named, `{"outputs":[{"name":"probabilities","shape":[2,4],"datatype":"FP32","data":[0,0,1,0,1,0,0,0]}]}`, misconfigured},
		{"several outputs, none named", openinference.Options{Input: openinference.Input{Name: "TEXT"}},
			`{"outputs":[{"name":"a","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]},{"name":"b","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"logits NaN", opts("logits", openinference.FormatLogits), `{"outputs":[{"name":"logits","shape":[2,3],"datatype":"FP32","data":[0,0,1,"NaN",0,0]}]}`, badResponse},
		{"logits overflow", opts("logits", openinference.FormatLogits), `{"outputs":[{"name":"logits","shape":[2,3],"datatype":"FP32","data":[0,0,1e999,1,0,0]}]}`, badResponse},
		{"class index outside labels", opts("label", openinference.FormatClassIndex), `{"outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,7]}]}`, misconfigured},
		{"class index FP32 not whole", opts("label", openinference.FormatClassIndex), `{"outputs":[{"name":"label","shape":[2],"datatype":"FP32","data":[1.5,2]}]}`, misconfigured},
		{"class index fraction", opts("label", openinference.FormatClassIndex), `{"outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1,1.5]}]}`, badResponse},
		{"class index short", opts("label", openinference.FormatClassIndex), `{"outputs":[{"name":"label","shape":[2],"datatype":"INT64","data":[1]}]}`, badResponse},
		{"hf not a dict", opts("o", openinference.FormatHFProbabilities), `{"outputs":[{"name":"o","shape":[2],"datatype":"BYTES","data":["positive","negative"]}]}`, badResponse},
		{"hf nan", opts("o", openinference.FormatHFProbabilities), `{"outputs":[{"name":"o","shape":[2],"datatype":"BYTES","data":["{0: nan, 1: 0.5}","{0: 0.5}"]}]}`, badResponse},
		{"hf index outside labels", opts("o", openinference.FormatHFProbabilities), `{"outputs":[{"name":"o","shape":[2],"datatype":"BYTES","data":["{0: 0.5, 3: 0.5}","{0: 1.0}"]}]}`, misconfigured},
		{"hf no configured label", opts("o", openinference.FormatHFProbabilities), `{"outputs":[{"name":"o","shape":[2],"datatype":"BYTES","data":["{'LABEL_0': 0.5}","{'LABEL_1': 0.5}"]}]}`, misconfigured},
		{"hf FP32", opts("o", openinference.FormatHFProbabilities), `{"outputs":[{"name":"o","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"classification malformed", opts("p", openinference.FormatClassification), `{"outputs":[{"name":"p","shape":[2,1],"datatype":"BYTES","data":["0.9","0.8:1"]}]}`, badResponse},
		{"classification of logits without activation", opts("p", openinference.FormatClassification), `{"outputs":[{"name":"p","shape":[2,1],"datatype":"BYTES","data":["4.5:1","0.8:1"]}]}`, badResponse},
		{"classification index outside labels", opts("p", openinference.FormatClassification), `{"outputs":[{"name":"p","shape":[2,1],"datatype":"BYTES","data":["0.9:9","0.8:1"]}]}`, misconfigured},
		{"classification not classified", opts("p", openinference.FormatClassification), `{"outputs":[{"name":"p","shape":[2,3],"datatype":"FP32","data":[0,0,1,1,0,0]}]}`, misconfigured},
		{"classification count", opts("p", openinference.FormatClassification), `{"outputs":[{"name":"p","shape":[2,1],"datatype":"BYTES","data":["0.9:1"]}]}`, badResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			c, err := openinference.New(adaptertest.Spec(srv.URL), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, tc.want)
		})
	}
}

var (
	misconfigured = adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}
	badResponse   = adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}
)

func TestStart(t *testing.T) {
	const tritonMeta = `{"name":"sentiment","versions":["1"],"platform":"onnxruntime_onnx",
		"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1,1]}],
		"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]},{"name":"label","datatype":"INT64","shape":[-1,1]}]}`
	tests := []struct {
		name     string
		opts     openinference.Options
		status   int
		body     string
		want     *adaptertest.Want
		msg      string // in the error
		input    string // in the infer request
		output   string
		nShape   int // dims of the input shape
		version  string
		noOutput bool
	}{
		{name: "reference server", status: 200,
			body:  `{"name":"sentiment","versions":["v1"],"platform":"chorus_refmodel","inputs":[{"name":"text","datatype":"BYTES","shape":[-1,1]}],"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,3]}],"parameters":{"labels":["negative","neutral","positive"]}}`,
			input: "text", output: "probabilities", nShape: 2, version: "v1"},
		{name: "triton, logits picked by datatype", opts: openinference.Options{Output: openinference.Output{Format: openinference.FormatLogits}},
			status: 200, body: tritonMeta, input: "TEXT", output: "logits", nShape: 2, version: "1"},
		{name: "triton, class index picked by datatype", opts: openinference.Options{Output: openinference.Output{Format: openinference.FormatClassIndex}},
			status: 200, body: tritonMeta, input: "TEXT", output: "label", nShape: 2, version: "1"},
		{name: "[N] input", status: 200,
			body:  `{"name":"sentiment","versions":["1","2"],"inputs":[{"name":"INPUT0","datatype":"BYTES","shape":[-1]}],"outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[-1,3]}]}`,
			input: "INPUT0", output: "OUTPUT0", nShape: 1},
		{name: "no outputs listed", status: 200,
			body:  `{"name":"sentiment","versions":[],"platform":"","inputs":[{"name":"input-0","datatype":"BYTES","shape":[-1]}],"outputs":[]}`,
			input: "input-0", nShape: 1, noOutput: true},
		{name: "several output candidates", status: 200,
			body: `{"name":"sentiment","inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1,1]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]},{"name":"probs","datatype":"FP32","shape":[-1,3]}]}`,
			want: &misconfigured, msg: "several outputs that format probabilities can read: logits (FP32 [-1,3]), probs (FP32 [-1,3]); set open_inference.output.name"},
		{name: "several text inputs", status: 200,
			body: `{"name":"sentiment","inputs":[{"name":"A","datatype":"BYTES","shape":[-1]},{"name":"B","datatype":"BYTES","shape":[-1]}],"outputs":[]}`,
			want: &misconfigured, msg: "several BYTES inputs: A (BYTES [-1]), B (BYTES [-1]); set open_inference.input.name"},
		{name: "no text input", status: 200,
			body: `{"name":"sentiment","inputs":[{"name":"input_ids","datatype":"INT64","shape":[-1,-1]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]}]}`,
			want: &misconfigured, msg: "no BYTES input to send texts in; it lists: input_ids (INT64 [-1,-1])"},
		{name: "configured input missing", opts: openinference.Options{Input: openinference.Input{Name: "text"}}, status: 200, body: tritonMeta,
			want: &misconfigured, msg: `input "text" is not in the model metadata; it lists: TEXT (BYTES [-1,1])`},
		{name: "configured output of the wrong datatype", opts: openinference.Options{Output: openinference.Output{Name: "label"}}, status: 200, body: tritonMeta,
			want: &misconfigured, msg: "output label (INT64 [-1,1]) cannot be read as format probabilities"},
		{name: "label dimension", opts: openinference.Options{Output: openinference.Output{Format: openinference.FormatLogits}}, status: 200,
			body: `{"name":"sentiment","inputs":[{"name":"TEXT","datatype":"BYTES","shape":[-1,1]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,2]}]}`,
			want: &misconfigured, msg: "scores 2 labels, but 3 are configured"},
		{name: "shape contradicts config", opts: openinference.Options{Input: openinference.Input{Shape: openinference.ShapeN}}, status: 200, body: tritonMeta,
			want: &misconfigured, msg: "takes shape [N,1], not the configured [N]"},
		{name: "metadata 404", status: 404, body: `{"error":"Request for unknown model: 'sentiment' is not found"}`,
			want: &adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound}, msg: "unknown model"},
		{name: "metadata 503", status: 503, body: `{"error":"Model sentiment is not ready"}`,
			want: &adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}, msg: "not ready"},
		{name: "metadata not JSON", status: 200, body: `<html>`,
			want: &badResponse, msg: "not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var infer atomic.Pointer[map[string]any]
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					if r.URL.Path != "/v2/models/sentiment" {
						t.Errorf("metadata path %q", r.URL.Path)
					}
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
					return
				}
				var req map[string]any
				json.NewDecoder(r.Body).Decode(&req)
				infer.Store(&req)
				name := "o"
				if outs, _ := req["outputs"].([]any); len(outs) == 1 {
					name, _ = outs[0].(map[string]any)["name"].(string)
				}
				fmt.Fprintf(w, `{"outputs":[{"name":%q,"datatype":"FP32","shape":[1,3],"data":[0,0,1]}]}`, name)
			}))
			defer srv.Close()
			c, err := openinference.New(adaptertest.Spec(srv.URL), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Start(adaptertest.Context(t))
			if tc.want != nil {
				adaptertest.Check(t, err, *tc.want)
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Version != tc.version {
				t.Errorf("Info.Version %q, want %q", info.Version, tc.version)
			}
			// Only the request is checked: the stand-in answers FP32.
			c.Predict(adaptertest.Context(t), []string{"x"})
			req := infer.Load()
			if req == nil {
				t.Fatal("no infer request")
			}
			in := (*req)["inputs"].([]any)[0].(map[string]any)
			if in["name"] != tc.input || len(in["shape"].([]any)) != tc.nShape {
				t.Errorf("input %v, want %s with %d dims", in, tc.input, tc.nShape)
			}
			outs, _ := (*req)["outputs"].([]any)
			switch {
			case tc.noOutput && len(outs) != 0:
				t.Errorf("outputs %v asked for, want none", outs)
			case !tc.noOutput && (len(outs) != 1 || outs[0].(map[string]any)["name"] != tc.output):
				t.Errorf("outputs %v, want %s", outs, tc.output)
			}
		})
	}
}

// Names configured in full: Start asks nothing.
func TestStartWithNamesMakesNoRequest(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	spec := adaptertest.Spec(srv.URL)
	spec.Version = "4"
	c, err := openinference.New(spec, named)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Start(adaptertest.Context(t))
	if err != nil || info.Version != "4" || calls.Load() != 0 {
		t.Errorf("Start = %+v, %v after %d requests; want version 4 and no request", info, err, calls.Load())
	}
}

func TestRequestForms(t *testing.T) {
	k2 := opts("OUTPUT0", openinference.FormatClassification)
	k2.Output.Classification = 2
	n := opts("OUTPUT0", "")
	n.Input.Shape = openinference.ShapeN
	tests := []struct {
		name string
		opts openinference.Options
		want string
	}{
		{"[N,1] by default", opts("OUTPUT0", ""), `"inputs":[{"name":"TEXT","shape":[2,1],"datatype":"BYTES","data":["a","b"]}],"outputs":[{"name":"OUTPUT0"}]`},
		{"[N]", n, `"inputs":[{"name":"TEXT","shape":[2],"datatype":"BYTES","data":["a","b"]}],"outputs":[{"name":"OUTPUT0"}]`},
		{"classification K", k2, `"outputs":[{"name":"OUTPUT0","parameters":{"classification":2}}]`},
		{"classification of all labels", opts("OUTPUT0", openinference.FormatClassification), `"outputs":[{"name":"OUTPUT0","parameters":{"classification":3}}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- string(b)
				w.WriteHeader(503)
			}))
			defer srv.Close()
			c, err := openinference.New(adaptertest.Spec(srv.URL), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			c.Predict(adaptertest.Context(t), []string{"a", "b"})
			if b := <-got; !strings.Contains(b, tc.want) {
				t.Errorf("request %s\nwant it to hold %s", b, tc.want)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []openinference.Options{
		{Input: openinference.Input{Datatype: "FP32"}},
		{Input: openinference.Input{Shape: "[N,2]"}},
		{Output: openinference.Output{Format: "top_k"}},
		{Output: openinference.Output{Activation: openinference.ActivationSigmoid}},
		{Output: openinference.Output{Format: openinference.FormatLogits, Activation: "relu"}},
		{Output: openinference.Output{Classification: 2}},
		{Output: openinference.Output{Format: openinference.FormatClassification, Classification: -1}},
		{Output: openinference.Output{Format: openinference.FormatClassification, Classification: 1, Activation: openinference.ActivationSoftmax}},
	} {
		_, err := openinference.New(adaptertest.Spec("http://x"), o)
		if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != endpoint.ReasonBadSpec {
			t.Errorf("New(%+v) = %v, want a bad_spec error", o, err)
		}
	}
}

// BenchmarkFormats measures each format's decode on a 64-text batch,
// through the same client path as BenchmarkPredict.
func BenchmarkFormats(b *testing.B) {
	row := func(n int, cell func(i, j int) string) string {
		var parts []string
		for i := range n {
			for j := range 3 {
				parts = append(parts, cell(i, j))
			}
		}
		return strings.Join(parts, ",")
	}
	probs := []string{"0.1", "0.2", "0.7"}
	k3 := opts("OUT", openinference.FormatClassification)
	for _, f := range []struct {
		name string
		opts openinference.Options
		body func(n int) string
	}{
		{"probabilities", opts("OUT", ""), func(n int) string {
			return fmt.Sprintf(`{"model_version":"1","outputs":[{"name":"OUT","datatype":"FP32","shape":[%d,3],"data":[%s]}]}`, n, row(n, func(_, j int) string { return probs[j] }))
		}},
		{"logits", opts("OUT", openinference.FormatLogits), func(n int) string {
			return fmt.Sprintf(`{"model_version":"1","outputs":[{"name":"OUT","datatype":"FP32","shape":[%d,3],"data":[%s]}]}`, n, row(n, func(_, j int) string { return []string{"-1.25", "0.5", "3.75"}[j] }))
		}},
		{"class_index", opts("OUT", openinference.FormatClassIndex), func(n int) string {
			idx := make([]string, n)
			for i := range idx {
				idx[i] = fmt.Sprint(i % 3)
			}
			return fmt.Sprintf(`{"model_version":"1","outputs":[{"name":"OUT","datatype":"INT64","shape":[%d],"data":[%s]}]}`, n, strings.Join(idx, ","))
		}},
		{"hf_probabilities", opts("OUT", openinference.FormatHFProbabilities), func(n int) string {
			d := make([]string, n)
			for i := range d {
				d[i] = `"{0: 0.1, 1: 0.2, 2: 0.7}"`
			}
			return fmt.Sprintf(`{"model_version":null,"outputs":[{"name":"OUT","datatype":"BYTES","shape":[%d],"data":[%s]}]}`, n, strings.Join(d, ","))
		}},
		{"classification", k3, func(n int) string {
			return fmt.Sprintf(`{"model_version":"1","outputs":[{"name":"OUT","datatype":"BYTES","shape":[%d,3],"data":[%s]}]}`, n,
				row(n, func(_, j int) string { return fmt.Sprintf(`"%s:%d:%s"`, probs[j], j, adaptertest.Labels[j]) }))
		}},
	} {
		b.Run(f.name, func(b *testing.B) {
			adaptertest.Bench(b, adaptertest.Protocol{
				New:    func(s endpoint.Spec) (endpoint.Client, error) { return openinference.New(s, f.opts) },
				OKBody: f.body,
			})
		})
	}
}

// Triton's classification labels are the model's label file lines, which
// may hold spaces and colons ("15.346230:504:COFFEE MUG"); its docs call
// the datatype STRING where the server writes BYTES.
func TestClassificationLabels(t *testing.T) {
	body := `{"model_name":"m","model_version":"1","outputs":[{"name":"out","datatype":"%s","shape":[1,2],` +
		`"data":["0.900000:504:COFFEE MUG","0.050000:7:ratio 1:2"]}]}`
	for _, dt := range []string{"BYTES", "STRING"} {
		t.Run(dt, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, fmt.Sprintf(body, dt))
			spec := adaptertest.Spec(srv.URL)
			spec.Labels = []string{"ratio 1:2", "COFFEE MUG", "other"}
			o := opts("out", openinference.FormatClassification)
			o.Output.Classification = 2
			c, err := openinference.New(spec, o)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Predict(adaptertest.Context(t), []string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			if want := [][]float64{{0.05, 0.9, 0}}; !near(res.Scores, want) {
				t.Errorf("scores %v, want %v", res.Scores, want)
			}
		})
	}
}

// TestErrorWords: what a message says wins where the status cannot be
// trusted. Triton before 2.42 answered every error 400, and it answers
// its JSON faults 500. The messages are the servers' format strings
// (WIRE.md names their source lines), filled in.
func TestErrorWords(t *testing.T) {
	tests := []struct {
		name   string
		status int
		msg    string
		want   adaptertest.Want
	}{
		{"old Triton, model without versions", 400, "Request for unknown model: 'foo' has no available versions",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound}},
		{"old Triton, version not found", 400, "Request for unknown model: 'foo' version 3 is not found",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonNotFound}},
		{"old Triton, loading", 400, "Request for unknown model: 'foo' version 1 is not at ready state",
			adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
		{"old Triton, ready endpoint", 400, "Model version not ready",
			adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
		{"old Triton, queue full", 400, "[request id: 9] Exceeds maximum queue size",
			adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
		{"old Triton, JSON element type", 400, "Unable to parse 'data': attempt to access JSON non-string as string",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"Triton, version not a number", 400, "failed to get model version from specified version string 'v2' (details: stoll)",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"Triton, input count", 400, "[request id: 4] expected 2 inputs but got 1 inputs for model 'm'. Got input(s) ['TEXT'], but missing required input(s) ['MASK']. Please provide all required input(s).",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"KServe, unknown output", 400, "Unexpected inference output 'probabilities' for model 'm'",
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"Triton, JSON shape fault stays retryable", 500, "Failed to parse 'data' field: shape does not match true shape",
			adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonServerError}},
		{"a backend's refusal is bisected", 400, "[request id: 5] text too long for the tokenizer",
			adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBadRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"error": tc.msg})
			srv := adaptertest.Serve(t, tc.status, nil, string(b))
			c, err := openinference.New(adaptertest.Spec(srv.URL), opts("probabilities", ""))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, tc.want)
		})
	}
}
