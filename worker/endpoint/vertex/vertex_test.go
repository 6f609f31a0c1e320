package vertex_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
	"github.com/chorusml/chorus/worker/errkind"
)

// server is one kind of ":predict" server the suite runs against: the
// options that speak to it and its own bodies.
type server struct {
	name string
	opts vertex.Options
	// pred is one prediction scoring adaptertest.Labels 0.1, 0.2, 0.7.
	pred string
	// envelope wraps the predictions into a response; %s is the list.
	envelope string
	// version is the envelope's version member, replaced by OKBodyVersion.
	version string
}

// servers covers each prediction form. The bodies follow the servers'
// documented shapes; the fixture table (fixtures_test.go) replays the
// recorded ones.
var servers = []server{
	{
		name:     "vertex automl",
		pred:     `{"ids":["8123","8124","8125"],"displayNames":["positive","neutral","negative"],"confidences":[0.7,0.2,0.1]}`,
		envelope: `{"predictions":[%s],"deployedModelId":"4242424242","model":"projects/1/locations/us-central1/models/99","modelDisplayName":"sentiment","modelVersionId":"2"}`,
		version:  `"modelVersionId":"2"`,
	},
	{
		name:     "scores classes",
		opts:     vertex.Options{Instance: vertex.InstanceKey, InstanceKey: "text", Prediction: vertex.PredictionScoresClasses},
		pred:     `{"scores":[0.7,0.2,0.1],"classes":["positive","neutral","negative"]}`,
		envelope: `{"predictions":[%s],"deployedModelId":"1","modelVersionId":"1"}`,
		version:  `"modelVersionId":"1"`,
	},
	{
		name:     "tf serving probabilities",
		opts:     vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionProbabilities, SignatureName: "serving_default"},
		pred:     `[0.1,0.2,0.7]`,
		envelope: `{"predictions":[%s],"modelVersionId":"1"}`,
		version:  `"modelVersionId":"1"`,
	},
	{
		name:     "label score",
		opts:     vertex.Options{Instance: vertex.InstanceInputs, Prediction: vertex.PredictionLabelScore},
		pred:     `[{"label":"positive","score":0.7},{"label":"neutral","score":0.2},{"label":"negative","score":0.1}]`,
		envelope: `{"predictions":[%s],"modelVersionId":"1"}`,
		version:  `"modelVersionId":"1"`,
	},
}

func (s server) body(n int) string {
	preds := make([]string, n)
	for i := range preds {
		preds[i] = s.pred
	}
	return fmt.Sprintf(s.envelope, strings.Join(preds, ","))
}

func (s server) protocol(t testing.TB) adaptertest.Protocol {
	return adaptertest.Protocol{
		New:  func(spec endpoint.Spec) (endpoint.Client, error) { return vertex.New(spec, s.opts) },
		Path: func(spec endpoint.Spec) string { return "/v1/models/" + spec.Name + ":predict" },
		ErrorBody: func(status int, msg string) string {
			return googleError(t, status, "UNAVAILABLE", msg)
		},
		OKBody: s.body,
		BatchTooLarge: func(limit, n int) (int, string) {
			return tfServingBatchTooLarge(t, limit, n)
		},
		InvalidInput: func(msg string) (int, string) {
			return hfInvalidInput(t, msg)
		},
		OKBodyVersion: func(n int, v string) (string, http.Header) {
			vb, _ := json.Marshal(v)
			return strings.Replace(s.body(n), s.version, `"modelVersionId":`+string(vb), 1), nil
		},
		Misconfigured: misconfiguredReplies(t),
	}
}

func TestCommon(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) { adaptertest.Run(t, s.protocol(t)) })
	}
}

func TestPredictForms(t *testing.T) {
	want := [][]float64{{0.1, 0.2, 0.7}, {0.1, 0.2, 0.7}}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, s.body(2))
			res := predict(t, srv.URL, s.opts)
			if !reflect.DeepEqual(res.Scores, want) {
				t.Errorf("scores %v, want %v", res.Scores, want)
			}
		})
	}
}

func predict(t *testing.T, url string, opts vertex.Options) *endpoint.Result {
	t.Helper()
	c, err := vertex.New(adaptertest.Spec(url), opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPredict(t *testing.T) {
	tests := []struct {
		name        string
		opts        vertex.Options
		body        string
		wantScores  [][]float64
		wantVersion string
	}{
		{
			name: "automl labels left out score zero",
			body: `{"predictions":[
				{"ids":["1"],"displayNames":["positive"],"confidences":[0.9]},
				{"ids":[],"displayNames":[],"confidences":[]}],
				"deployedModelId":"1"}`,
			wantScores: [][]float64{{0, 0, 0.9}, {0, 0, 0}},
		},
		{
			name: "automl numeric ids",
			body: `{"predictions":[
				{"ids":[1,2,3],"displayNames":["negative","neutral","positive"],"confidences":[1,0,0]},
				{"ids":[1,2,3],"displayNames":["negative","neutral","positive"],"confidences":[0,1,0]}]}`,
			wantScores: [][]float64{{1, 0, 0}, {0, 1, 0}},
		},
		{
			name: "automl unknown label dropped, the rest scored",
			body: `{"predictions":[
				{"displayNames":["positive","angry"],"confidences":[0.6,0.4]},
				{"displayNames":["negative"],"confidences":[1]}],"modelVersionId":"7"}`,
			wantScores:  [][]float64{{0, 0, 0.6}, {1, 0, 0}},
			wantVersion: "7",
		},
		{
			// Proto3 JSON leaves out empty lists: {} is a prediction
			// with no label above confidenceThreshold (WIRE.md).
			name:       "automl prediction with nothing above the threshold",
			body:       `{"predictions":[{"ids":["1"],"displayNames":["positive"],"confidences":[0.9]},{}]}`,
			wantScores: [][]float64{{0, 0, 0.9}, {0, 0, 0}},
		},
		{
			name:       "probabilities by class index",
			opts:       vertex.Options{Prediction: vertex.PredictionProbabilities},
			body:       `{"predictions":[{"2":0.7,"0":0.1,"1":0.2},{"0":1,"1":0,"2":0}]}`,
			wantScores: [][]float64{{0.1, 0.2, 0.7}, {1, 0, 0}},
		},
		{
			name:       "label score, one object per prediction",
			opts:       vertex.Options{Prediction: vertex.PredictionLabelScore},
			body:       `{"predictions":[{"label":"positive","score":0.98},{"label":"negative","score":0.75}]}`,
			wantScores: [][]float64{{0, 0, 0.98}, {0.75, 0, 0}},
		},
		{
			name:       "class index",
			opts:       vertex.Options{Instance: vertex.InstanceString, Prediction: vertex.PredictionClassIndex},
			body:       `{"predictions":[2,0]}`,
			wantScores: [][]float64{{0, 0, 1}, {1, 0, 0}},
		},
		{
			name:       "scores classes in either order",
			opts:       vertex.Options{Prediction: vertex.PredictionScoresClasses},
			body:       `{"predictions":[{"classes":["negative","positive"],"scores":[0.3,0.7]},{"scores":[1],"classes":["neutral"]}]}`,
			wantScores: [][]float64{{0.3, 0, 0.7}, {0, 1, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			res := predict(t, srv.URL, tc.opts)
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
	pred := `{"displayNames":["negative","neutral","positive"],"confidences":[0.1,0.2,0.7]}`
	tests := []struct{ name, body string }{
		{"no predictions", `{"predictions":[],"deployedModelId":"1"}`},
		{"predictions missing", `{"deployedModelId":"1"}`},
		{"label twice", `{"predictions":[` + pred + `,{"displayNames":["neutral","neutral"],"confidences":[0.5,0.5]}]}`},
		{"lengths differ", `{"predictions":[` + pred + `,{"displayNames":["neutral","positive"],"confidences":[0.5]}]}`},
		{"NaN string", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":["NaN"]}]}`},
		{"NaN token", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[NaN]}]}`},
		{"above one", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[1.2]}]}`},
		{"negative", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[-0.5]}]}`},
		{"prediction not object", `{"predictions":[` + pred + `,"positive"]}`},
		{"confidences missing", `{"predictions":[` + pred + `,{"ids":["1"],"displayNames":["neutral"]}]}`},
		{"both lists missing", `{"predictions":[` + pred + `,{"ids":["1"]}]}`},
		{"lists null", `{"predictions":[` + pred + `,{"displayNames":null,"confidences":null}]}`},
		{"error in 200", `{"error":{"code":500,"message":"oops"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			c, err := vertex.New(adaptertest.Spec(srv.URL), vertex.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse})
		})
	}
}

func TestStrictLabels(t *testing.T) {
	body := `{"predictions":[
		{"displayNames":["positive","angry"],"confidences":[0.6,0.4]},
		{"displayNames":["negative"],"confidences":[1]}]}`
	srv := adaptertest.Serve(t, 200, nil, body)
	spec := adaptertest.Spec(srv.URL)
	spec.StrictLabels = true
	c, err := vertex.New(spec, vertex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
	adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible})
	if err != nil && !strings.Contains(err.Error(), "angry") {
		t.Errorf("error %q does not name the label", err)
	}
}

// Every form: a prediction without the form's fields is never a row of
// zeros. Missing fields are a bad response; a prediction of another known
// form is a misconfiguration that names the right vertex.prediction.
func TestMissingFields(t *testing.T) {
	bad := adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse}
	wrong := adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}
	tests := []struct {
		name    string
		pred    vertex.Prediction
		body    string
		want    adaptertest.Want
		suggest vertex.Prediction
	}{
		{"automl without lists", vertex.PredictionAutoML, `{"predictions":[{"ids":["1"]},{"ids":["1"]}]}`, bad, ""},
		{"automl other members only", vertex.PredictionAutoML, `{"predictions":[{"foo":1},{"foo":1}]}`, bad, ""},
		{"automl gets scores classes", vertex.PredictionAutoML, `{"predictions":[{"scores":[1],"classes":["positive"]},{"scores":[1],"classes":["positive"]}]}`, wrong, vertex.PredictionScoresClasses},
		{"automl gets numbers", vertex.PredictionAutoML, `{"predictions":[[0.1,0.2,0.7],[0.1,0.2,0.7]]}`, wrong, vertex.PredictionProbabilities},
		{"automl gets label score", vertex.PredictionAutoML, `{"predictions":[[{"label":"positive","score":1}],[{"label":"positive","score":1}]]}`, wrong, vertex.PredictionLabelScore},
		{"automl gets class index", vertex.PredictionAutoML, `{"predictions":[2,1]}`, wrong, vertex.PredictionClassIndex},
		{"scores classes without scores", vertex.PredictionScoresClasses, `{"predictions":[{"classes":["positive"]},{"classes":["positive"]}]}`, bad, ""},
		{"scores classes without either", vertex.PredictionScoresClasses, `{"predictions":[{"probabilities":[1]},{"probabilities":[1]}]}`, bad, ""},
		{"scores classes gets automl", vertex.PredictionScoresClasses, `{"predictions":[{"displayNames":["positive"],"confidences":[1]},{"displayNames":["positive"],"confidences":[1]}]}`, wrong, vertex.PredictionAutoML},
		{"probabilities gets object", vertex.PredictionProbabilities, `{"predictions":[{"foo":1},{"foo":1}]}`, bad, ""},
		{"probabilities gets lists of lists", vertex.PredictionProbabilities, `{"predictions":[[[0.1,0.2,0.7]],[[0.1,0.2,0.7]]]}`, bad, ""},
		{"probabilities gets automl", vertex.PredictionProbabilities, `{"predictions":[{"displayNames":["positive"],"confidences":[1]},{"displayNames":["positive"],"confidences":[1]}]}`, wrong, vertex.PredictionAutoML},
		{"probabilities gets class index", vertex.PredictionProbabilities, `{"predictions":[1,2]}`, wrong, vertex.PredictionClassIndex},
		{"probabilities count differs", vertex.PredictionProbabilities, `{"predictions":[[0.3,0.7],[0.3,0.7]]}`, wrong, ""},
		{"probabilities by index, one short", vertex.PredictionProbabilities, `{"predictions":[{"0":0.3,"1":0.7},{"0":0.3,"1":0.7}]}`, wrong, ""},
		{"class index gets indexed probabilities", vertex.PredictionClassIndex, `{"predictions":[{"0":0.3,"1":0.7},{"0":0.3,"1":0.7}]}`, wrong, vertex.PredictionProbabilities},
		{"probabilities a string inside", vertex.PredictionProbabilities, `{"predictions":[[0.1,"x",0.7],[0.1,0.2,0.7]]}`, bad, ""},
		{"label score without score", vertex.PredictionLabelScore, `{"predictions":[[{"label":"positive"}],[{"label":"positive"}]]}`, bad, ""},
		{"label score without label", vertex.PredictionLabelScore, `{"predictions":[{"score":0.5},{"score":0.5}]}`, bad, ""},
		{"label score gets numbers", vertex.PredictionLabelScore, `{"predictions":[[0.1,0.2,0.7],[0.1,0.2,0.7]]}`, wrong, vertex.PredictionProbabilities},
		{"label score gets scores classes", vertex.PredictionLabelScore, `{"predictions":[{"scores":[1],"classes":["positive"]},{"scores":[1],"classes":["positive"]}]}`, wrong, vertex.PredictionScoresClasses},
		{"class index gets a fraction", vertex.PredictionClassIndex, `{"predictions":[0.5,0.5]}`, bad, ""},
		{"class index gets null", vertex.PredictionClassIndex, `{"predictions":[null,null]}`, bad, ""},
		{"class index gets numbers", vertex.PredictionClassIndex, `{"predictions":[[0.1,0.2,0.7],[0.1,0.2,0.7]]}`, wrong, vertex.PredictionProbabilities},
		{"class index out of range", vertex.PredictionClassIndex, `{"predictions":[3,0]}`, wrong, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			c, err := vertex.New(adaptertest.Spec(srv.URL), vertex.Options{Prediction: tc.pred})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, tc.want)
			if err == nil {
				return
			}
			if tc.suggest != "" && !strings.Contains(err.Error(), "set vertex.prediction to "+string(tc.suggest)) {
				t.Errorf("error %q does not suggest vertex.prediction %s", err, tc.suggest)
			}
			if tc.want == wrong && tc.suggest != "" && !strings.Contains(err.Error(), "vertex.prediction is "+string(tc.pred)) {
				t.Errorf("error %q does not name the configured form", err)
			}
		})
	}
}

func TestRequestPath(t *testing.T) {
	tests := []struct {
		name        string
		spec        func(url string) endpoint.Spec
		wantPath    string
		wantVersion string
	}{
		{"tf serving path", func(u string) endpoint.Spec { return adaptertest.Spec(u) }, "/v1/models/sentiment:predict", ""},
		{"remote name and version", func(u string) endpoint.Spec {
			s := adaptertest.Spec(u)
			s.RemoteName = "sent"
			s.Version = "3"
			return s
		}, "/v1/models/sent/versions/3:predict", "3"},
		{"vertex endpoint url", func(u string) endpoint.Spec {
			s := adaptertest.Spec(u + "/v1/projects/acme/locations/europe-west4/endpoints/1234:predict")
			s.Version = "ignored: the URL names the endpoint"
			return s
		}, "/v1/projects/acme/locations/europe-west4/endpoints/1234:predict", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			paths := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				paths <- r.URL.Path
				// TF Serving's answer: no version in it.
				io.WriteString(w, `{"predictions":[[0.1,0.2,0.7],[0.1,0.2,0.7]]}`)
			}))
			defer srv.Close()
			c, err := vertex.New(tc.spec(srv.URL), servers[2].opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			if got := <-paths; got != tc.wantPath {
				t.Errorf("path %q, want %q", got, tc.wantPath)
			}
			if res.Version != tc.wantVersion {
				t.Errorf("version %q, want %q", res.Version, tc.wantVersion)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	for _, opts := range []vertex.Options{
		{Instance: "content"},
		{Instance: vertex.InstanceKey},
		{Prediction: "softmax"},
		{Parameters: map[string]string{"confidenceThreshold": "0.5,"}},
		{Parameters: map[string]string{"mode": "fast"}},
	} {
		_, err := vertex.New(adaptertest.Spec("http://127.0.0.1:1"), opts)
		if errkind.ReasonOf(err) != endpoint.ReasonBadSpec {
			t.Errorf("New(%+v) = %v, want a bad_spec error", opts, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	srv := adaptertest.Serve(t, 400, nil, `{"error":{"code":400,"message":"Invalid instance: content is required.","status":"INVALID_ARGUMENT"}}`)
	c, _ := vertex.New(adaptertest.Spec(srv.URL), vertex.Options{})
	_, err := c.Predict(adaptertest.Context(t), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "content is required") {
		t.Errorf("error %v does not carry the server's message", err)
	}
}

func BenchmarkPredict(b *testing.B) { adaptertest.Bench(b, servers[0].protocol(b)) }

// requestBody captures the body of the one request a client sends.
func requestBody(t *testing.T, opts vertex.Options, texts []string) []byte {
	t.Helper()
	srv := adaptertest.NewCapture(t, 503, nil, "")
	c, err := vertex.New(adaptertest.Spec(srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Predict(adaptertest.Context(t), texts)
	return []byte(srv.Next(t).Body)
}

// sameJSON fails unless got and want are the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("request %s\nwant    %s", got, want)
	}
}

func TestRequestForms(t *testing.T) {
	texts := []string{`She said "fine" <b>`, "ünïcödé\n"}
	tests := []struct {
		name string
		opts vertex.Options
		want string
	}{
		{"automl text", vertex.Options{},
			`{"instances":[{"content":"She said \"fine\" <b>","mimeType":"text/plain"},{"content":"ünïcödé\n","mimeType":"text/plain"}]}`},
		{"automl text, other mime type", vertex.Options{Instance: vertex.InstanceAutoMLText, MIMEType: "text/html"},
			`{"instances":[{"content":"She said \"fine\" <b>","mimeType":"text/html"},{"content":"ünïcödé\n","mimeType":"text/html"}]}`},
		{"plain strings", vertex.Options{Instance: vertex.InstanceString},
			`{"instances":["She said \"fine\" <b>","ünïcödé\n"]}`},
		{"inputs", vertex.Options{Instance: vertex.InstanceInputs},
			`{"instances":[{"inputs":"She said \"fine\" <b>"},{"inputs":"ünïcödé\n"}]}`},
		{"named key", vertex.Options{Instance: vertex.InstanceKey, InstanceKey: "review_text"},
			`{"instances":[{"review_text":"She said \"fine\" <b>"},{"review_text":"ünïcödé\n"}]}`},
		{"parameters", vertex.Options{Parameters: map[string]string{"confidenceThreshold": "0.5", "maxPredictions": " 5 ", "labels": `["a", "b"]`}},
			`{"instances":[{"content":"She said \"fine\" <b>","mimeType":"text/plain"},{"content":"ünïcödé\n","mimeType":"text/plain"}],
			  "parameters":{"confidenceThreshold":0.5,"maxPredictions":5,"labels":["a","b"]}}`},
		{"signature name", vertex.Options{Instance: vertex.InstanceString, SignatureName: "serving_default"},
			`{"signature_name":"serving_default","instances":["She said \"fine\" <b>","ünïcödé\n"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sameJSON(t, requestBody(t, tc.opts, texts), tc.want)
		})
	}
}

// TF Serving's batch limit and signature errors, Google's unknown field:
// the first splits the batch, the others stop the model, as the call
// layer reads them.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       adaptertest.Want
	}{
		{"tf serving batch limit", `{ "error": "Task size 65 is larger than maximum input batch size 64" }`,
			adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge}},
		{"tf serving signature", `{ "error": "Serving signature name: \"serving_default\" not found in signature def" }`,
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"tf serving input name", `{ "error": "Failed to process element: 0 key: text of 'instances' list. Error: Invalid argument: JSON object: does not have named input: text" }`,
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"google unknown field", `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"signature_name\": Cannot find field.","status":"INVALID_ARGUMENT"}}`,
			adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible}},
		{"a text refused", `{"error":{"code":400,"message":"text too long","status":"INVALID_ARGUMENT"}}`,
			adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBadRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 400, nil, tc.body)
			c, err := vertex.New(adaptertest.Spec(srv.URL), vertex.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, tc.want)
			if tc.want.Reason == endpoint.ReasonBatchTooLarge {
				if n, ok := endpoint.BatchLimit(err); !ok || n != 64 {
					t.Errorf("BatchLimit = %d, %v; want 64", n, ok)
				}
			}
		})
	}
}
