package tei_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/errkind"
)

func protocol() adaptertest.Protocol {
	return adaptertest.Protocol{
		// The suite's servers answer every path as /predict would, so
		// its clients skip /info; TestStart covers it.
		New:  func(s endpoint.Spec) (endpoint.Client, error) { return tei.New(s, tei.Options{SkipInfo: true}) },
		Path: func(endpoint.Spec) string { return "/predict" },
		// TEI errors: {"error": "...", "error_type": "Overloaded"} (the Rust variant name).
		ErrorBody: func(_ int, msg string) string {
			b, _ := json.Marshal(map[string]string{"error": msg, "error_type": "Overloaded"})
			return string(b)
		},
		OKBody:        okBody,
		BatchTooLarge: batchTooLarge,
		InvalidInput:  invalidInput,
		Misconfigured: []adaptertest.Reply{mustReply("error-not-classifier.json")},
		OKBodyVersion: func(n int, v string) (string, http.Header) {
			return okBody(n), http.Header{"X-Model-Version": {v}}
		},
	}
}

// okBody is a batch predict response: per input, labels sorted by score.
func okBody(n int) string {
	preds := make([]string, n)
	for i := range preds {
		preds[i] = `[{"score":0.7,"label":"positive"},{"score":0.2,"label":"neutral"},{"score":0.1,"label":"negative"}]`
	}
	return "[" + strings.Join(preds, ",") + "]"
}

func TestCommon(t *testing.T) { adaptertest.Run(t, protocol()) }

func TestPredict(t *testing.T) {
	tests := []struct {
		name        string
		header      string
		body        string
		wantScores  [][]float64
		wantVersion string
	}{
		{
			name:       "sorted by score",
			body:       okBody(2),
			wantScores: [][]float64{{0.1, 0.2, 0.7}, {0.1, 0.2, 0.7}},
		},
		{
			name:        "labels left out score zero, version header",
			header:      "abc123",
			body:        `[[{"score":0.99,"label":"negative"}],[]]`,
			wantScores:  [][]float64{{0.99, 0, 0}, {0, 0, 0}},
			wantVersion: "abc123",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set(tei.VersionHeader, tc.header)
				}
				// TEI sends its timing headers with every prediction.
				w.Header().Set("x-compute-time", "3")
				w.Header().Set("x-inference-time", "2")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := tei.New(adaptertest.Spec(srv.URL), tei.Options{})
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
	pred := `[{"score":0.7,"label":"positive"}]`
	tests := []struct{ name, body string }{
		{"single instead of batch", `[{"score":0.7,"label":"positive"},{"score":0.3,"label":"negative"}]`},
		{"label twice", `[` + pred + `,[{"score":0.5,"label":"neutral"},{"score":0.5,"label":"neutral"}]]`},
		{"NaN string", `[` + pred + `,[{"score":"NaN","label":"neutral"}]]`},
		{"NaN token", `[` + pred + `,[{"score":NaN,"label":"neutral"}]]`},
		{"above one", `[` + pred + `,[{"score":3.2,"label":"neutral"}]]`},
		{"negative (raw logit)", `[` + pred + `,[{"score":-1.3,"label":"neutral"}]]`},
		{"error in 200", `{"error":"Inference failed","error_type":"backend"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := tei.New(adaptertest.Spec(srv.URL), tei.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse})
		})
	}
}

func TestRequest(t *testing.T) {
	srv := adaptertest.NewCapture(t, 200, nil, okBody(2))
	c, err := tei.New(adaptertest.Spec(srv.URL+"/tei/sentiment/"), tei.Options{})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{`She said "fine" <b>`, "ünïcödé\n"}
	if _, err := c.Predict(adaptertest.Context(t), texts); err != nil {
		t.Fatal(err)
	}
	got := srv.Next(t)
	if want := "/tei/sentiment/predict"; got.Request.URL.Path != want {
		t.Errorf("path %q, want %q", got.Request.URL.Path, want)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
		t.Fatalf("request body: %v", err)
	}
	want := map[string]any{
		"inputs":     []any{[]any{texts[0]}, []any{texts[1]}},
		"raw_scores": false,
		"truncate":   true,
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("request %v\nwant %v", body, want)
	}
}

func BenchmarkPredict(b *testing.B) { adaptertest.Bench(b, protocol()) }

// A label the server scores that the spec does not list is dropped, and
// said once, unless the spec is strict.
func TestUnknownLabels(t *testing.T) {
	body := `[[{"score":0.6,"label":"positive"},{"score":0.3,"label":"LABEL_1"},{"score":0.1,"label":"negative"}],[{"score":0.9,"label":"LABEL_1"},{"score":0.1,"label":"neutral"}]]`
	tests := []struct {
		name   string
		strict bool
		want   [][]float64
		warned int
	}{
		{"lenient drops it", false, [][]float64{{0.1, 0, 0.6}, {0, 0.1, 0}}, 1},
		{"strict refuses it", true, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, body)
			var w warnings
			spec := adaptertest.Spec(srv.URL)
			spec.StrictLabels, spec.Warn = tc.strict, w.warn
			c, err := tei.New(spec, tei.Options{SkipInfo: true})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
				if tc.strict {
					adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Misconfigured, Reason: endpoint.ReasonIncompatible})
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Scores, tc.want) {
					t.Errorf("scores %v, want %v", res.Scores, tc.want)
				}
			}
			if got := w.all(); len(got) != tc.warned || (tc.warned > 0 && !strings.Contains(got[0], "LABEL_1")) {
				t.Errorf("warnings %q, want %d naming LABEL_1", got, tc.warned)
			}
		})
	}
}
