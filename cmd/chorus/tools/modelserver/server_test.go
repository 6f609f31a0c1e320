package modelserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
)

func newServer(t testing.TB, opts modelserver.Options, models ...refmodel.Model) (*modelserver.Server, *httptest.Server) {
	t.Helper()
	if len(models) == 0 {
		models = []refmodel.Model{newFake("sentiment")}
	}
	s := modelserver.New(models, opts)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs
}

// do makes one request. It reports failures with t.Error, not t.Fatal, so
// that tests may call it from other goroutines.
func do(t *testing.T, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// The texts "ab" and "abcd" score 0.75 on labels 2 and 1.
const (
	oipBody    = `{"id":"r1","inputs":[{"name":"text","shape":[2,1],"datatype":"BYTES","data":["ab","abcd"]}],"outputs":[{"name":"probabilities"}]}`
	vertexBody = `{"instances":[{"content":"ab","mimeType":"text/plain"},{"content":"abcd","mimeType":"text/plain"}]}`
	teiBody    = `{"inputs":[["ab"],["abcd"]],"raw_scores":false}`
)

func TestRoutes(t *testing.T) {
	_, hs := newServer(t, modelserver.Options{MaxBatch: 8})
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string // JSON the answer must equal, or "" to skip
	}{
		{"live", "GET", "/v2/health/live", "", 200, ""},
		{"ready", "GET", "/v2/health/ready", "", 200, ""},
		{"server metadata", "GET", "/v2", "", 200, `{"name":"chorus-modelserver","version":"1","extensions":[]}`},
		{"model ready", "GET", "/v2/models/sentiment/ready", "", 200, ""},
		{"model metadata", "GET", "/v2/models/sentiment", "", 200,
			`{"name":"sentiment","versions":["v1"],"platform":"chorus_refmodel",
			"inputs":[{"name":"text","datatype":"BYTES","shape":[-1,1]}],
			"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,3]}],
			"parameters":{"labels":["negative","neutral","positive"],"multi_label":false}}`},
		{"version metadata", "GET", "/v2/models/sentiment/versions/v1", "", 200, ""},
		{"wrong version metadata", "GET", "/v2/models/sentiment/versions/v2", "", 404, ""},
		{"unknown model metadata", "GET", "/v2/models/nope", "", 404, `{"error":"model \"nope\" not found"}`},

		{"infer", "POST", "/v2/models/sentiment/infer", oipBody, 200,
			`{"model_name":"sentiment","model_version":"v1","id":"r1","outputs":[{"name":"probabilities",
			"datatype":"FP32","shape":[2,3],"data":[0.125,0.125,0.75,0.125,0.75,0.125]}]}`},
		{"infer version", "POST", "/v2/models/sentiment/versions/v1/infer", oipBody, 200, ""},
		{"infer flat shape nested data", "POST", "/v2/models/sentiment/infer",
			`{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":[["ab"],["abcd"]]}]}`, 200, ""},
		{"infer wrong version", "POST", "/v2/models/sentiment/versions/v0/infer", oipBody, 404, ""},
		{"infer unknown model", "POST", "/v2/models/nope/infer", oipBody, 404, ""},
		{"infer bad json", "POST", "/v2/models/sentiment/infer", `{"inputs":`, 400, ""},
		{"infer FP32 input", "POST", "/v2/models/sentiment/infer",
			`{"inputs":[{"name":"text","shape":[1,1],"datatype":"FP32","data":[1]}]}`, 400, ""},
		{"infer shape mismatch", "POST", "/v2/models/sentiment/infer",
			`{"inputs":[{"name":"text","shape":[3,1],"datatype":"BYTES","data":["a","b"]}]}`, 400, ""},
		{"infer unknown output", "POST", "/v2/models/sentiment/infer",
			`{"inputs":[{"name":"text","shape":[1,1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"logits"}]}`, 400, ""},
		{"infer too large", "POST", "/v2/models/sentiment/infer",
			`{"inputs":[{"name":"text","shape":[9],"datatype":"BYTES","data":["1","2","3","4","5","6","7","8","9"]}]}`, 413, ""},
		{"infer GET", "GET", "/v2/models/sentiment/infer", "", 405, ""},

		{"vertex tf serving", "POST", "/v1/models/sentiment:predict", vertexBody, 200,
			`{"predictions":[
			{"ids":["0","1","2"],"displayNames":["negative","neutral","positive"],"confidences":[0.125,0.125,0.75]},
			{"ids":["0","1","2"],"displayNames":["negative","neutral","positive"],"confidences":[0.125,0.75,0.125]}],
			"deployedModelId":"sentiment","modelDisplayName":"sentiment","modelVersionId":"v1"}`},
		{"vertex version", "POST", "/v1/models/sentiment/versions/v1:predict", vertexBody, 200, ""},
		{"vertex wrong version", "POST", "/v1/models/sentiment/versions/v7:predict", vertexBody, 404, ""},
		{"vertex endpoint", "POST", "/v1/projects/acme/locations/eu/endpoints/sentiment:predict", vertexBody, 200, ""},
		{"vertex bare strings", "POST", "/v1/models/sentiment:predict", `{"instances":["ab","abcd"]}`, 200, ""},
		{"vertex other method", "POST", "/v1/models/sentiment:explain", vertexBody, 404, ""},
		{"vertex unknown model", "POST", "/v1/models/nope:predict", vertexBody, 404,
			`{"error":{"code":404,"message":"model \"nope\" not found","status":"NOT_FOUND"}}`},
		{"vertex image", "POST", "/v1/models/sentiment:predict", `{"instances":[{"content":"x","mimeType":"image/png"}]}`, 400, ""},

		{"tei batch", "POST", "/tei/sentiment/predict", teiBody, 200,
			`[[{"score":0.75,"label":"positive"},{"score":0.125,"label":"negative"},{"score":0.125,"label":"neutral"}],
			[{"score":0.75,"label":"neutral"},{"score":0.125,"label":"negative"},{"score":0.125,"label":"positive"}]]`},
		{"tei single", "POST", "/tei/sentiment/predict", `{"inputs":"ab"}`, 200,
			`[{"score":0.75,"label":"positive"},{"score":0.125,"label":"negative"},{"score":0.125,"label":"neutral"}]`},
		{"tei mixed batch", "POST", "/tei/sentiment/predict", `{"inputs":[["ab"],"abcd"]}`, 200, ""},
		{"tei pair", "POST", "/tei/sentiment/predict", `{"inputs":["question","answer"]}`, 422,
			`{"error":"invalid predict request: text pairs are not supported","error_type":"Validation"}`},
		{"tei batch of pairs", "POST", "/tei/sentiment/predict", `{"inputs":[["q","a"]]}`, 422, ""},
		{"tei unknown model", "POST", "/tei/nope/predict", teiBody, 404, ""},
		{"tei info", "GET", "/tei/sentiment/info", "", 200,
			`{"model_id":"sentiment","model_sha":"v1","model_dtype":"float32","model_type":{"classifier":{
			"id2label":{"0":"negative","1":"neutral","2":"positive"},"label2id":{"negative":0,"neutral":1,"positive":2}}},
			"served_model_name":"sentiment","max_concurrent_requests":512,"max_input_length":512,
			"max_batch_tokens":16384,"max_batch_requests":null,"max_client_batch_size":8,"auto_truncate":false,
			"tokenization_workers":4,"version":"1.8.2","sha":null,"docker_label":null}`},
		{"tei health", "GET", "/tei/sentiment/health", "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := do(t, tc.method, hs.URL+tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", tc.method, tc.path, status, tc.status, body)
			}
			if status != 405 && body != "" && !json.Valid([]byte(body)) {
				t.Errorf("body is not JSON: %s", body)
			}
			if status != 405 && body != "" && h.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", h.Get("Content-Type"))
			}
			if tc.want != "" {
				var got, want any
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("answer %s: %v", body, err)
				}
				if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
					t.Fatalf("want %s: %v", tc.want, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("answer %s\nwant   %s", body, tc.want)
				}
			}
		})
	}
}

func TestTEIVersionHeader(t *testing.T) {
	_, hs := newServer(t, modelserver.Options{})
	_, h, _ := do(t, "POST", hs.URL+"/tei/sentiment/predict", teiBody)
	if v := h.Get("X-Model-Version"); v != "v1" {
		t.Errorf("X-Model-Version %q, want v1", v)
	}
}

func TestFaultBodies(t *testing.T) {
	tests := []struct {
		name  string
		fault modelserver.Fault
		path  string
		body  string
		check func(t *testing.T, status int, h http.Header, body string)
	}{
		{"503 with retry-after, oip", modelserver.Fault{Status: 503, RetryAfter: 1500 * time.Millisecond},
			"/v2/models/sentiment/infer", oipBody, func(t *testing.T, status int, h http.Header, body string) {
				if status != 503 || h.Get("Retry-After") != "2" || !strings.HasPrefix(body, `{"error":"`) {
					t.Errorf("got %d Retry-After=%q %s", status, h.Get("Retry-After"), body)
				}
			}},
		{"429 vertex", modelserver.Fault{Status: 429}, "/v1/models/sentiment:predict", vertexBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 429 || !strings.Contains(body, `"RESOURCE_EXHAUSTED"`) {
					t.Errorf("got %d %s", status, body)
				}
			}},
		{"429 tei", modelserver.Fault{Status: 429}, "/tei/sentiment/predict", teiBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 429 || !strings.Contains(body, `"error_type":"Overloaded"`) {
					t.Errorf("got %d %s", status, body)
				}
			}},
		{"NaN oip", modelserver.Fault{NaN: true}, "/v2/models/sentiment/infer", oipBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 200 || !strings.Contains(body, `"data":["NaN",`) {
					t.Errorf("got %d %s", status, body)
				}
			}},
		{"wrong count tei single", modelserver.Fault{WrongCount: true}, "/tei/sentiment/predict", `{"inputs":"ab"}`,
			func(t *testing.T, status int, h http.Header, body string) {
				var got [][]any
				if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 2 {
					t.Errorf("got %d %s (%v)", status, body, err)
				}
			}},
		{"unknown label vertex", modelserver.Fault{UnknownLabel: true}, "/v1/models/sentiment:predict", vertexBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 200 || !strings.Contains(body, `"displayNames":["LABEL_0","neutral","positive"]`) {
					t.Errorf("got %d %s", status, body)
				}
			}},
		{"unknown label oip", modelserver.Fault{UnknownLabel: true}, "/v2/models/sentiment/infer", oipBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 200 || !strings.Contains(body, `"shape":[2,4]`) {
					t.Errorf("got %d %s", status, body)
				}
			}},
		{"garbage", modelserver.Fault{Garbage: true}, "/tei/sentiment/predict", teiBody,
			func(t *testing.T, status int, h http.Header, body string) {
				if status != 200 || json.Valid([]byte(body)) {
					t.Errorf("got %d %s", status, body)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, hs := newServer(t, modelserver.Options{})
			if err := s.SetFault("sentiment", tc.fault); err != nil {
				t.Fatal(err)
			}
			status, h, body := do(t, "POST", hs.URL+tc.path, tc.body)
			tc.check(t, status, h, body)
			if got := stats(s).Faults; got != 1 {
				t.Errorf("Stats.Faults = %d, want 1", got)
			}
			if err := s.SetFault("sentiment", modelserver.Fault{}); err != nil {
				t.Fatal(err)
			}
			if status, _, body := do(t, "POST", hs.URL+tc.path, tc.body); status != 200 || !json.Valid([]byte(body)) {
				t.Errorf("after clearing the fault: %d %s", status, body)
			}
		})
	}
	if err := modelserver.New(nil, modelserver.Options{}).SetFault("nope", modelserver.Fault{NaN: true}); err == nil {
		t.Error("SetFault on an unknown model succeeded")
	}
}

func TestFaultHook(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	s, hs := newServer(t, modelserver.Options{Fault: func(model string, n int) modelserver.Fault {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%s/%d", model, n))
		if len(calls) == 1 {
			return modelserver.Fault{Status: 503}
		}
		return modelserver.Fault{}
	}})
	if status, _, _ := do(t, "POST", hs.URL+"/v2/models/sentiment/infer", oipBody); status != 503 {
		t.Errorf("first call: %d, want 503", status)
	}
	if status, _, _ := do(t, "POST", hs.URL+"/v2/models/sentiment/infer", oipBody); status != 200 {
		t.Errorf("second call: %d, want 200", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"sentiment/2", "sentiment/2"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("hook calls %v, want %v", calls, want)
	}
	if got := stats(s); got.Requests != 2 || got.Faults != 1 || got.Batches != 1 || got.Items != 2 || got.MaxBatch != 2 {
		t.Errorf("stats %+v", got)
	}
}

func TestMaxConcurrent(t *testing.T) {
	m := newFake("sentiment")
	m.gate = make(chan struct{})
	s, hs := newServer(t, modelserver.Options{MaxConcurrent: 2}, m)
	const n = 5
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			status, _, _ := do(t, "POST", hs.URL+"/tei/sentiment/predict", teiBody)
			statuses <- status
		})
	}
	// Once all five are in, two hold slots inside the model and three wait.
	eventually(t, "all requests in flight", func() bool { return stats(s).InFlight == n })
	if a := m.active.Load(); a != 2 {
		t.Errorf("%d batches in the model at once, want 2", a)
	}
	close(m.gate)
	wg.Wait()
	close(statuses)
	for st := range statuses {
		if st != 200 {
			t.Errorf("status %d", st)
		}
	}
	if p := m.peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want 2", p)
	}
	if got := stats(s); got.MaxInFlight != n || got.InFlight != 0 || got.Batches != n || got.Items != 2*n {
		t.Errorf("stats %+v", got)
	}
}

// A client that gives up frees its slot: the emulated cost is not slept
// out for nobody.
func TestCanceledRequestFreesSlot(t *testing.T) {
	s, hs := newServer(t, modelserver.Options{MaxConcurrent: 1, BatchCost: time.Hour})
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(c, "POST", hs.URL+"/tei/sentiment/predict", strings.NewReader(teiBody))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	eventually(t, "request in flight", func() bool { return stats(s).InFlight == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Error("canceled request succeeded")
	}
	eventually(t, "slot freed", func() bool { return stats(s).InFlight == 0 })
	if b := stats(s).Batches; b != 0 {
		t.Errorf("Batches = %d for a canceled request", b)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	m := newFake("sentiment")
	m.gate = make(chan struct{})
	s := modelserver.New([]refmodel.Model{m}, modelserver.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx(t))
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln) }()

	url := "http://" + ln.Addr().String()
	answered := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", url+"/v2/models/sentiment/infer", oipBody)
		answered <- status
	}()
	eventually(t, "request in the model", func() bool { return m.active.Load() == 1 })
	stop()
	// Shutdown stops accepting but waits for the request in flight.
	eventually(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(m.gate)
	if status := <-answered; status != 200 {
		t.Errorf("in-flight request got %d, want 200", status)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestDuplicateModelPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a duplicate name did not panic")
		}
	}()
	modelserver.New([]refmodel.Model{newFake("a"), newFake("a")}, modelserver.Options{})
}
