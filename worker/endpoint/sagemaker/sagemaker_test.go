package sagemaker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/call"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/sagemaker"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// form is one kind of container the suite runs against: the options that
// speak to it and a body scoring adaptertest.Labels 0.1, 0.2, 0.7 for n
// texts.
type form struct {
	name string
	opts sagemaker.Options
	ok   func(n int) string
}

func repeat(n int, one, sep, open, closing string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = one
	}
	return open + strings.Join(parts, sep) + closing
}

var forms = []form{
	{
		name: "hf toolkit top_k",
		opts: sagemaker.Options{Parameters: map[string]string{"top_k": "null"}},
		ok: func(n int) string {
			return repeat(n, `[{"label":"positive","score":0.7},{"label":"neutral","score":0.2},{"label":"negative","score":0.1}]`, ",", "[", "]")
		},
	},
	{
		name: "blazingtext json",
		opts: sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText, K: 3, LabelPrefix: "__label__"},
		ok: func(n int) string {
			return repeat(n, `{"prob":[0.7,0.2,0.1],"label":["__label__positive","__label__neutral","__label__negative"]}`, ",", "[", "]")
		},
	},
	{
		name: "tf serving predictions",
		opts: sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponsePredictions},
		ok:   func(n int) string { return repeat(n, `[0.1,0.2,0.7]`, ",", `{"predictions":[`, "]}") },
	},
}

// jsonLines is BlazingText asked in JSON Lines; the suite's header case
// wants a JSON request, so it runs the error semantics only.
var jsonLines = form{
	name: "blazingtext jsonlines",
	opts: sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText, K: 3, LabelPrefix: "__label__"},
	ok: func(n int) string {
		return repeat(n, `{"prob":[0.7,0.2,0.1],"label":["__label__positive","__label__neutral","__label__negative"]}`, "\n", "", "\n")
	},
}

// protocol runs the shared suite unsigned (no credentials): the suite
// checks that spec headers, Authorization included, and url userinfo
// reach the server, which only an unsigned client sends as they are.
// TestSigV4 and the fixture cases run signed.
func (f form) protocol() adaptertest.Protocol {
	return adaptertest.Protocol{
		New:           func(s endpoint.Spec) (endpoint.Client, error) { return sagemaker.New(s, f.opts) },
		Path:          func(s endpoint.Spec) string { return "/endpoints/" + s.Name + "/invocations" },
		ErrorBody:     errorBody,
		OKBody:        f.ok,
		BatchTooLarge: batchTooLarge,
		InvalidInput:  invalidInput,
		Misconfigured: []adaptertest.Reply{mustReply("validation-error-endpoint-not-found.json"), mustReply("access-denied-400.json")},
		OKBodyVersion: func(n int, v string) (string, http.Header) {
			return f.ok(n), http.Header{"X-Amzn-Invoked-Production-Variant": {v}}
		},
	}
}

// errorBody is SageMaker's error for a status, in its restJson1 shape
// ({"__type", "Message"}); statuses SageMaker has no modeled error for
// get the shape without a known type, as a proxy or AWS's front end
// would send it.
func errorBody(status int, msg string) string {
	typ := map[int]string{
		400: "ValidationError", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
		429: "ModelNotReadyException", 500: "InternalFailure", 503: "ServiceUnavailable", 530: "InternalDependencyException",
	}[status]
	b, _ := json.Marshal(map[string]string{"__type": typ, "Message": msg})
	return string(b)
}

// modelError is a ModelError (424) carrying the container's status and
// its model server's JSON body with msg, as the toolkit fixture does.
func modelError(orig int, msg string) string {
	inner, _ := json.Marshal(map[string]any{"code": orig, "type": "InternalServerException", "message": msg})
	b, _ := json.Marshal(map[string]any{
		"__type":             "ModelError",
		"Message":            fmt.Sprintf("Received client error (%d) from primary with message %q. See the logs.", orig, inner),
		"OriginalMessage":    string(inner),
		"OriginalStatusCode": orig,
		"LogStreamArn":       "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/sentiment",
	})
	return string(b)
}

// batchTooLarge is a container behind SageMaker refusing a batch over its
// limit in TEI's words (TEI serves on SageMaker too); SageMaker passes it
// on as a ModelError.
func batchTooLarge(limit, n int) (int, string) {
	return http.StatusFailedDependency, modelError(422, fmt.Sprintf("batch size %d > maximum allowed batch size %d", n, limit))
}

// invalidInput is the toolkit's 400 for a text its pipeline refused,
// passed on as a ModelError (model-error-toolkit-400.json's form).
func invalidInput(msg string) (int, string) {
	return http.StatusFailedDependency, modelError(400, msg)
}

func TestCommon(t *testing.T) {
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) { adaptertest.Run(t, f.protocol()) })
	}
	t.Run(jsonLines.name, func(t *testing.T) { adaptertest.RunSemantics(t, jsonLines.protocol()) })
}

func BenchmarkPredict(b *testing.B) { adaptertest.Bench(b, forms[0].protocol()) }

// static are fixed credentials for the signed cases.
var static = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")

// signed returns a signed client for url.
func signed(t *testing.T, url string, opts sagemaker.Options) *sagemaker.Client {
	t.Helper()
	if opts.Region == "" {
		opts.Region = "eu-west-1"
	}
	opts.Credentials = static
	spec := adaptertest.Spec(url)
	c, err := sagemaker.New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The real SDK client signs each request with SigV4 for service
// sagemaker in the configured region, and sends the routing headers.
func TestSigV4(t *testing.T) {
	srv := adaptertest.NewCapture(t, 200, nil, forms[0].ok(2))
	c := signed(t, srv.URL, sagemaker.Options{
		Region: "eu-west-1", Endpoint: "sentiment-prod", Parameters: map[string]string{"top_k": "null"},
		TargetVariant: "variant-b", TargetModel: "model-7.tar.gz", InferenceComponent: "ic-sentiment",
		CustomAttributes: "trace=abc", TargetContainerHostname: "primary",
	})
	res, err := c.Predict(adaptertest.Context(t), []string{"great", "awful"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scores) != 2 {
		t.Fatalf("scores %v", res.Scores)
	}
	got := srv.Next(t)
	auth := got.Request.Header.Get("Authorization")
	for _, want := range []string{"AWS4-HMAC-SHA256 ", "Credential=AKIDEXAMPLE/", "/eu-west-1/sagemaker/aws4_request", "SignedHeaders=", "Signature="} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization %q does not hold %q", auth, want)
		}
	}
	if got.Request.Header.Get("X-Amz-Date") == "" {
		t.Errorf("request has no SigV4 date: %v", got.Request.Header)
	}
	if want := "/endpoints/sentiment-prod/invocations"; got.Request.URL.Path != want {
		t.Errorf("path %q, want %q", got.Request.URL.Path, want)
	}
	for h, want := range map[string]string{
		"X-Amzn-Sagemaker-Target-Variant":            "variant-b",
		"X-Amzn-Sagemaker-Target-Model":              "model-7.tar.gz",
		"X-Amzn-Sagemaker-Inference-Component":       "ic-sentiment",
		"X-Amzn-Sagemaker-Custom-Attributes":         "trace=abc",
		"X-Amzn-Sagemaker-Target-Container-Hostname": "primary",
		"Content-Type": "application/json",
		"Accept":       "application/json",
	} {
		if v := got.Request.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if want := `{"inputs":["great","awful"],"parameters":{"top_k":null}}`; got.Body != want {
		t.Errorf("body %s, want %s", got.Body, want)
	}
}

// Chorus's call layer is the only retry layer: a 503 is one HTTP request
// per Predict (the SDK would retry it three times by default), and the
// call layer's policy decides how many Predicts there are.
func TestOneRequestPerPredict(t *testing.T) {
	for _, file := range []string{"service-unavailable-503.json", "throttling-400.json", "model-not-ready-429.json", "internal-failure-500.json"} {
		t.Run(file, func(t *testing.T) {
			rep := reply(t, file)
			srv := adaptertest.NewCapture(t, rep.Status, rep.Header, rep.Body)
			c := signed(t, srv.URL, sagemaker.Options{})
			_, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
			if errkind.KindOf(err) != errkind.Retryable {
				t.Fatalf("%v is %v, want retryable", err, errkind.KindOf(err))
			}
			if n := srv.Requests(); n != 1 {
				t.Errorf("%d HTTP requests for one Predict, want 1", n)
			}
			r := &call.Runner{Client: c, Policy: retry.Policy{MaxAttempts: 3, Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: 5 * time.Second}}
			out := make([]call.Outcome, 2)
			r.Predict(adaptertest.Context(t), []string{"a", "b"}, out)
			if n := srv.Requests(); n != 1+3 {
				t.Errorf("%d HTTP requests after a call policy of 3 attempts, want 1+3", n)
			}
		})
	}
}

// Without a url the region names the runtime host.
func TestRegionalEndpoint(t *testing.T) {
	hosts := make(chan string, 1)
	spec := adaptertest.Spec("")
	spec.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		hosts <- r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(`[{"label":"positive","score":0.9}]`)), Request: r}, nil
	})}
	c, err := sagemaker.New(spec, sagemaker.Options{Region: "ap-southeast-2", Credentials: static})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Predict(adaptertest.Context(t), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got, want := <-hosts, "https://runtime.sagemaker.ap-southeast-2.amazonaws.com/endpoints/sentiment/invocations"; got != want {
		t.Errorf("request to %s, want %s", got, want)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequestForms(t *testing.T) {
	texts := []string{`She said "fine" <b>`, "ünïcödé\n"}
	tests := []struct {
		name        string
		opts        sagemaker.Options
		contentType string
		body        string
	}{
		{"inputs", sagemaker.Options{}, "application/json", `{"inputs":["She said \"fine\" <b>","ünïcödé\n"]}`},
		{"inputs with parameters", sagemaker.Options{Parameters: map[string]string{"truncation": "true", "top_k": " 3 "}},
			"application/json", `{"inputs":["She said \"fine\" <b>","ünïcödé\n"],"parameters":{"top_k":3,"truncation":true}}`},
		{"instances", sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText},
			"application/json", `{"instances":["She said \"fine\" <b>","ünïcödé\n"]}`},
		{"instances with k", sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText, K: 3},
			"application/json", `{"instances":["She said \"fine\" <b>","ünïcödé\n"],"configuration":{"k":3}}`},
		{"jsonlines", sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText},
			"application/jsonlines", "{\"source\":\"She said \\\"fine\\\" <b>\"}\n{\"source\":\"ünïcödé\\n\"}\n"},
		{"jsonlines with k", sagemaker.Options{Request: sagemaker.RequestJSONLines, Response: sagemaker.ResponseBlazingText, K: 2},
			"application/jsonlines", "{\"source\":\"She said \\\"fine\\\" <b>\",\"k\":2}\n{\"source\":\"ünïcödé\\n\",\"k\":2}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.NewCapture(t, 503, nil, errorBody(503, "down"))
			_, _ = signed(t, srv.URL, tc.opts).Predict(adaptertest.Context(t), texts)
			got := srv.Next(t)
			if got.Body != tc.body {
				t.Errorf("body %q\nwant %q", got.Body, tc.body)
			}
			if ct, acc := got.Request.Header.Get("Content-Type"), got.Request.Header.Get("Accept"); ct != tc.contentType || acc != tc.contentType {
				t.Errorf("Content-Type %q, Accept %q; want both %q", ct, acc, tc.contentType)
			}
		})
	}
}

// A batch over the payload limit is not sent: it is a batch too large
// with the number of texts that fit, and the call layer splits it.
func TestPayloadLimit(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent.Add(1)
		if len(b) > 1000 {
			t.Errorf("a body of %d bytes was sent past the 1000-byte limit", len(b))
		}
		var req struct{ Inputs []string }
		_ = json.Unmarshal(b, &req)
		io.WriteString(w, forms[0].ok(len(req.Inputs)))
	}))
	defer srv.Close()
	c := signed(t, srv.URL, sagemaker.Options{MaxPayloadBytes: 1000})
	texts := make([]string, 16)
	for i := range texts {
		texts[i] = strings.Repeat("x", 190) + strconv.Itoa(i)
	}
	_, err := c.Predict(adaptertest.Context(t), texts)
	adaptertest.Check(t, err, adaptertest.Want{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge})
	if limit, ok := endpoint.BatchLimit(err); !ok || limit < 1 || limit > 5 {
		t.Errorf("batch limit %d, %v; want 1..5 texts of ~200 bytes under 1000", limit, ok)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d requests sent for a batch over the limit", n)
	}
	r := &call.Runner{Client: c, Policy: retry.Policy{MaxAttempts: 1}, Sizer: call.NewSizer(16, nil)}
	out := make([]call.Outcome, len(texts))
	r.Predict(adaptertest.Context(t), texts, out)
	for i, o := range out {
		if o.Err != nil {
			t.Errorf("text %d: %v", i, o.Err)
		}
	}
	// One text alone over the limit is that text's fault.
	_, err = c.Predict(adaptertest.Context(t), []string{strings.Repeat("y", 2000)})
	if err == nil || errkind.ReasonOf(err) != endpoint.ReasonBatchTooLarge {
		t.Errorf("one text over the limit: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec func(endpoint.Spec) endpoint.Spec
		opts sagemaker.Options
		msg  string
	}{
		{"no region, no url", func(s endpoint.Spec) endpoint.Spec { s.URL = ""; return s }, sagemaker.Options{}, "no region and no url"},
		{"endpoint name", nil, sagemaker.Options{Endpoint: "my_endpoint"}, "not a SageMaker endpoint name"},
		{"endpoint name too long", nil, sagemaker.Options{Endpoint: strings.Repeat("a", 64)}, "not a SageMaker endpoint name"},
		{"request form", nil, sagemaker.Options{Request: "csv"}, "request form"},
		{"response form", nil, sagemaker.Options{Response: "csv"}, "response form"},
		{"parameters with instances", nil, sagemaker.Options{Request: sagemaker.RequestInstances, Parameters: map[string]string{"k": "1"}}, "parameters"},
		{"k with inputs", nil, sagemaker.Options{K: 2}, "k must be"},
		{"parameter not JSON", nil, sagemaker.Options{Parameters: map[string]string{"top_k": "three"}}, "not JSON"},
		{"header value", nil, sagemaker.Options{CustomAttributes: "a\nb"}, "header"},
		{"signed with Authorization", func(s endpoint.Spec) endpoint.Spec {
			s.Headers = map[string]string{"authorization": "Bearer x"}
			return s
		}, sagemaker.Options{Region: "eu-west-1", Credentials: static}, "SigV4"},
		{"signed with userinfo", func(s endpoint.Spec) endpoint.Spec { s.URL = "http://u:p@localhost:1"; return s },
			sagemaker.Options{Region: "eu-west-1", Credentials: static}, "SigV4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := adaptertest.Spec("http://localhost:1")
			if tc.spec != nil {
				spec = tc.spec(spec)
			}
			_, err := sagemaker.New(spec, tc.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if errkind.KindOf(err) != errkind.Permanent || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%v (%v), want a permanent error saying %q", err, errkind.KindOf(err), tc.msg)
			}
			if strings.Contains(err.Error(), "u:p") || strings.Contains(err.Error(), "Bearer") {
				t.Errorf("error %q prints a secret", err)
			}
		})
	}
}

func TestLabelMapping(t *testing.T) {
	tests := []struct {
		name string
		opts sagemaker.Options
		body string
		want [][]float64
	}{
		{"label map", sagemaker.Options{LabelMap: map[string]string{"LABEL_0": "negative", "LABEL_1": "neutral", "LABEL_2": "positive"}},
			`[{"label":"LABEL_2","score":0.9},{"label":"LABEL_0","score":0.6}]`, [][]float64{{0, 0, 0.9}, {0.6, 0, 0}}},
		{"prefix then map", sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText, LabelPrefix: "__label__", LabelMap: map[string]string{"1": "positive", "0": "negative"}},
			`[{"prob":[0.8,0.2],"label":["__label__1","__label__0"]},{"label":["__label__0"],"prob":[0.5]}]`, [][]float64{{0.2, 0, 0.8}, {0.5, 0, 0}}},
		{"predictions of label score", sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponsePredictions},
			`{"predictions":[[{"label":"neutral","score":0.3}],{"label":"positive","score":0.6}]}`, [][]float64{{0, 0.3, 0}, {0, 0, 0.6}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			res, err := signed(t, srv.URL, tc.opts).Predict(adaptertest.Context(t), []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Scores, tc.want) {
				t.Errorf("scores %v, want %v", res.Scores, tc.want)
			}
		})
	}
}

func TestBadResponses(t *testing.T) {
	bt := sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponseBlazingText}
	pred := sagemaker.Options{Request: sagemaker.RequestInstances, Response: sagemaker.ResponsePredictions}
	tests := []struct {
		name   string
		opts   sagemaker.Options
		body   string
		kind   errkind.Kind
		reason errkind.Reason
	}{
		{"label score not a list", sagemaker.Options{}, `{"label":"positive","score":0.7}`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"label twice", sagemaker.Options{}, `[{"label":"positive","score":0.7},[{"label":"neutral","score":0.5},{"label":"neutral","score":0.5}]]`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"score above one", sagemaker.Options{}, `[{"label":"positive","score":1.2},{"label":"positive","score":0.2}]`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"blazingtext lists differ", bt, `[{"prob":[0.7,0.3],"label":["positive"]},{"prob":[1],"label":["positive"]}]`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"blazingtext over fastText's slack", bt, `[{"prob":[1.001],"label":["positive"]},{"prob":[1],"label":["positive"]}]`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"blazingtext jsonl line not JSON", bt, "{\"prob\":[1],\"label\":[\"positive\"]}\n{\"prob\":[1],", errkind.Retryable, endpoint.ReasonBadResponse},
		{"blazingtext jsonl one short", bt, "{\"prob\":[1],\"label\":[\"positive\"]}\n", errkind.Retryable, endpoint.ReasonBadResponse},
		{"no predictions member", pred, `{"outputs":[[0.1,0.2,0.7],[0.1,0.2,0.7]]}`, errkind.Retryable, endpoint.ReasonBadResponse},
		{"fewer probabilities than labels", pred, `{"predictions":[[0.3,0.7],[0.3,0.7]]}`, errkind.Misconfigured, endpoint.ReasonIncompatible},
		{"none of the labels", sagemaker.Options{}, `[{"label":"LABEL_0","score":0.7},{"label":"LABEL_1","score":0.2}]`, errkind.Misconfigured, endpoint.ReasonIncompatible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := adaptertest.Serve(t, 200, nil, tc.body)
			_, err := signed(t, srv.URL, tc.opts).Predict(adaptertest.Context(t), []string{"a", "b"})
			adaptertest.Check(t, err, adaptertest.Want{Kind: tc.kind, Reason: tc.reason})
		})
	}
}

// A server may answer before it has read the request (a front end that
// streams its reply). smithy-go closes the request body it gave net/http
// once the reply's headers are in; the client must still send the whole
// payload and read the whole reply.
func TestAnswerBeforeRequestIsRead(t *testing.T) {
	const textBytes = 1 << 20
	texts := make([]string, 4)
	for i := range texts {
		texts[i] = strings.Repeat(string(rune('a'+i)), textBytes)
	}
	got := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		n, _ := io.Copy(io.Discard, r.Body)
		got <- n
		io.WriteString(w, forms[0].ok(len(texts)))
	}))
	defer srv.Close()
	c := signed(t, srv.URL, forms[0].opts)
	res, err := c.Predict(adaptertest.Context(t), texts)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(res.Scores) != len(texts) {
		t.Errorf("%d scores for %d texts", len(res.Scores), len(texts))
	}
	if n := <-got; n < int64(len(texts)*textBytes) {
		t.Errorf("server read %d bytes of a request of over %d", n, len(texts)*textBytes)
	}
}
