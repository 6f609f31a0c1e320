package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
)

// decodeBatch is the batch size of the decode scenario.
const decodeBatch = 64

var decodeLabels = []string{"negative", "neutral", "positive"}

// DecodeRow is one response format's client cost.
type DecodeRow struct {
	Protocol, Format string
	PerItemNS        float64 // request encode + response decode, per text
	AllocsPerBatch   int64
	BytesPerBatch    int64
}

// DecodeResult is the client's cost per text, by response format.
type DecodeResult struct {
	Batch int
	Rows  []DecodeRow
}

// cannedTransport answers every request with one body, without a network,
// so that what is measured is the adapter: encoding the request, checking
// and decoding the response.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r,
	}, nil
}

type decodeCase struct {
	protocol, format string
	body             string
	client           func(endpoint.Spec) (endpoint.Client, error)
}

// repeatJSON joins n copies of item into a JSON array.
func repeatJSON(item string, n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

func decodeCases() []decodeCase {
	n := decodeBatch
	oi := func(f openinference.Format, k int) func(endpoint.Spec) (endpoint.Client, error) {
		return func(s endpoint.Spec) (endpoint.Client, error) {
			return openinference.New(s, openinference.Options{
				Input:  openinference.Input{Name: "text", Shape: openinference.ShapeN1},
				Output: openinference.Output{Name: "out", Format: f, Classification: k},
			})
		}
	}
	tensor := func(dt, shape, data string) string {
		return `{"model_name":"m","model_version":"1","outputs":[{"name":"out","datatype":"` + dt + `","shape":` + shape + `,"data":` + data + `}]}`
	}
	vx := func(p vertex.Prediction) func(endpoint.Spec) (endpoint.Client, error) {
		return func(s endpoint.Spec) (endpoint.Client, error) {
			return vertex.New(s, vertex.Options{Instance: vertex.InstanceString, Prediction: p})
		}
	}
	preds := func(item string) string { return `{"predictions":` + repeatJSON(item, n) + `,"modelVersionId":"1"}` }
	flat := func(row string) string { return "[" + strings.TrimSuffix(strings.Repeat(row+",", n), ",") + "]" }
	shape := func(dims ...int) string { return strings.ReplaceAll(fmt.Sprint(dims), " ", ",") }
	return []decodeCase{
		{"open-inference", "probabilities (FP32 [N,L])", tensor("FP32", shape(n, 3), flat("0.1,0.2,0.7")), oi(openinference.FormatProbabilities, 0)},
		{"open-inference", "logits (softmax)", tensor("FP32", shape(n, 3), flat("-1.25,0.5,2.75")), oi(openinference.FormatLogits, 0)},
		{"open-inference", "class_index (INT64 [N])", tensor("INT64", shape(n), flat("2")), oi(openinference.FormatClassIndex, 0)},
		{"open-inference", "hf_probabilities (KServe HF dicts)", tensor("BYTES", shape(n), repeatJSON(`"{0: 0.1, 1: 0.2, 2: 0.7}"`, n)), oi(openinference.FormatHFProbabilities, 0)},
		{"open-inference", "classification (Triton, K=3)", tensor("BYTES", shape(n, 3), flat(`"0.700000:2:positive","0.200000:1:neutral","0.100000:0:negative"`)), oi(openinference.FormatClassification, 3)},
		{"vertex", "automl", preds(`{"ids":["1","2","3"],"displayNames":["positive","neutral","negative"],"confidences":[0.7,0.2,0.1]}`), vx(vertex.PredictionAutoML)},
		{"vertex", "scores_classes", preds(`{"scores":[0.7,0.2,0.1],"classes":["positive","neutral","negative"]}`), vx(vertex.PredictionScoresClasses)},
		{"vertex", "probabilities", preds(`[0.1,0.2,0.7]`), vx(vertex.PredictionProbabilities)},
		{"vertex", "label_score", preds(`[{"label":"positive","score":0.7},{"label":"neutral","score":0.2},{"label":"negative","score":0.1}]`), vx(vertex.PredictionLabelScore)},
		{"vertex", "class_index", preds(`2`), vx(vertex.PredictionClassIndex)},
		{"tei", "label_score (sorted)", repeatJSON(`[{"score":0.7,"label":"positive"},{"score":0.2,"label":"neutral"},{"score":0.1,"label":"negative"}]`, n),
			func(s endpoint.Spec) (endpoint.Client, error) { return tei.New(s, tei.Options{SkipInfo: true}) }},
	}
}

// Decode measures each adapter's cost per text for a 64-text batch, by
// the response format it reads.
func Decode(ctx context.Context) (*DecodeResult, error) {
	texts := make([]string, decodeBatch)
	for i := range texts {
		texts[i] = fmt.Sprintf("Support was quick but the app keeps crashing %d times a day.", i)
	}
	res := &DecodeResult{Batch: decodeBatch}
	for _, c := range decodeCases() {
		client, err := c.accepted(ctx, texts)
		if err != nil {
			return nil, err
		}
		var failed error
		br := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Predict(ctx, texts); err != nil {
					failed = err
					return
				}
			}
		})
		if failed != nil {
			return nil, fmt.Errorf("%s %s: %w", c.protocol, c.format, failed)
		}
		res.Rows = append(res.Rows, DecodeRow{
			Protocol: c.protocol, Format: c.format,
			PerItemNS:      float64(br.NsPerOp()) / decodeBatch,
			AllocsPerBatch: br.AllocsPerOp(), BytesPerBatch: br.AllocedBytesPerOp(),
		})
	}
	return res, nil
}

// accepted builds the case's client and checks it reads the case's body:
// a figure for a body the client refuses would measure an error path.
func (c decodeCase) accepted(ctx context.Context, texts []string) (endpoint.Client, error) {
	spec := endpoint.Spec{Name: "m", URL: "http://bench.invalid", Labels: decodeLabels,
		HTTPClient: &http.Client{Transport: cannedTransport{body: []byte(c.body)}}}
	client, err := c.client(spec)
	if err == nil {
		_, err = client.Predict(ctx, texts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.protocol, c.format, err)
	}
	return client, nil
}

func (d *DecodeResult) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Endpoint client cost per text, by response format\n\nEach adapter scoring a %d-text batch against a canned response of the format (no network): encoding the request, checking and decoding the answer into label scores. The open-inference `probabilities`, vertex `automl` and tei rows are the formats the adapters read before the other formats were added.\n\n", d.Batch)
	b.WriteString("| protocol | response format | per text | allocs per batch | bytes per batch |\n|---|---|---:|---:|---:|\n")
	for _, r := range d.Rows {
		fmt.Fprintf(b, "| %s | %s | %.0f ns | %d | %d |\n", r.Protocol, r.Format, r.PerItemNS, r.AllocsPerBatch, r.BytesPerBatch)
	}
	b.WriteString("\n")
}
