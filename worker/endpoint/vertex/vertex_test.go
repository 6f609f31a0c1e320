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

func protocol() adaptertest.Protocol {
	return adaptertest.Protocol{
		New:  func(s endpoint.Spec) (endpoint.Client, error) { return vertex.New(s) },
		Path: func(s endpoint.Spec) string { return "/v1/models/" + s.Name + ":predict" },
		// Google API errors: {"error": {"code", "message", "status"}}.
		ErrorBody: func(status int, msg string) string {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{
				"code": status, "message": msg, "status": "UNAVAILABLE"}})
			return string(b)
		},
		OKBody: okBody,
		BatchTooLarge: func(limit, n int) (int, string) {
			return 413, fmt.Sprintf(`{"error":{"code":413,"message":"batch size %d exceeds max_batch_size %d","status":"INVALID_ARGUMENT"}}`, n, limit)
		},
		InvalidInput: func(msg string) (int, string) {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}})
			return 400, string(b)
		},
		OKBodyVersion: func(n int, v string) (string, http.Header) {
			vb, _ := json.Marshal(v)
			return strings.Replace(okBody(n), `"modelVersionId":"2"`, `"modelVersionId":`+string(vb), 1), nil
		},
	}
}

// okBody is a predict response for an AutoML text classification model:
// ids as int64 strings, display names and confidences in the same order.
func okBody(n int) string {
	preds := make([]string, n)
	for i := range preds {
		preds[i] = `{"ids":["8123","8124","8125"],"displayNames":["positive","neutral","negative"],"confidences":[0.7,0.2,0.1]}`
	}
	return `{"predictions":[` + strings.Join(preds, ",") + `],` +
		`"deployedModelId":"4242424242","model":"projects/1/locations/us-central1/models/99",` +
		`"modelDisplayName":"sentiment","modelVersionId":"2"}`
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
			name:        "all labels, endpoint order",
			body:        okBody(2),
			wantScores:  [][]float64{{0.1, 0.2, 0.7}, {0.1, 0.2, 0.7}},
			wantVersion: "2",
		},
		{
			name: "labels left out score zero",
			body: `{"predictions":[
				{"ids":["1"],"displayNames":["positive"],"confidences":[0.9]},
				{"ids":[],"displayNames":[],"confidences":[]}],
				"deployedModelId":"1"}`,
			wantScores: [][]float64{{0, 0, 0.9}, {0, 0, 0}},
		},
		{
			name: "numeric ids",
			body: `{"predictions":[
				{"ids":[1,2,3],"displayNames":["negative","neutral","positive"],"confidences":[1,0,0]},
				{"ids":[1,2,3],"displayNames":["negative","neutral","positive"],"confidences":[0,1,0]}]}`,
			wantScores: [][]float64{{1, 0, 0}, {0, 1, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := vertex.New(adaptertest.Spec(srv.URL))
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
	pred := `{"displayNames":["negative","neutral","positive"],"confidences":[0.1,0.2,0.7]}`
	tests := []struct{ name, body string }{
		{"no predictions", `{"predictions":[],"deployedModelId":"1"}`},
		{"predictions missing", `{"deployedModelId":"1"}`},
		{"unknown label", `{"predictions":[` + pred + `,{"displayNames":["angry"],"confidences":[0.5]}]}`},
		{"label twice", `{"predictions":[` + pred + `,{"displayNames":["neutral","neutral"],"confidences":[0.5,0.5]}]}`},
		{"lengths differ", `{"predictions":[` + pred + `,{"displayNames":["neutral","positive"],"confidences":[0.5]}]}`},
		{"NaN string", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":["NaN"]}]}`},
		{"NaN token", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[NaN]}]}`},
		{"above one", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[1.2]}]}`},
		{"negative", `{"predictions":[` + pred + `,{"displayNames":["neutral"],"confidences":[-0.5]}]}`},
		{"prediction not object", `{"predictions":[` + pred + `,"positive"]}`},
		{"error in 200", `{"error":{"code":500,"message":"oops"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := vertex.New(adaptertest.Spec(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Retryable, Reason: "bad_response"})
		})
	}
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name     string
		spec     func(url string) endpoint.Spec
		wantPath string
	}{
		{"tf serving path", func(u string) endpoint.Spec { return adaptertest.Spec(u) }, "/v1/models/sentiment:predict"},
		{"remote name and version", func(u string) endpoint.Spec {
			s := adaptertest.Spec(u)
			s.RemoteName = "sent"
			s.Version = "3"
			return s
		}, "/v1/models/sent/versions/3:predict"},
		{"vertex endpoint url", func(u string) endpoint.Spec {
			s := adaptertest.Spec(u + "/v1/projects/acme/locations/europe-west4/endpoints/1234:predict")
			s.Version = "ignored: the URL names the endpoint"
			return s
		}, "/v1/projects/acme/locations/europe-west4/endpoints/1234:predict"},
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
				io.WriteString(w, okBody(2))
			}))
			defer srv.Close()
			c, err := vertex.New(tc.spec(srv.URL))
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
			want := map[string]any{"instances": []any{
				map[string]any{"content": texts[0], "mimeType": "text/plain"},
				map[string]any{"content": texts[1], "mimeType": "text/plain"},
			}}
			if !reflect.DeepEqual(got.body, want) {
				t.Errorf("request %v\nwant %v", got.body, want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":400,"message":"Invalid instance: content is required.","status":"INVALID_ARGUMENT"}}`)
	}))
	defer srv.Close()
	c, _ := vertex.New(adaptertest.Spec(srv.URL))
	_, err := c.Predict(adaptertest.Context(t), []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "content is required") {
		t.Errorf("error %v does not carry the server's message", err)
	}
}

func BenchmarkPredict(b *testing.B) { adaptertest.Bench(b, protocol()) }
