// Package openinference is the endpoint adapter for the Open Inference
// Protocol (KServe v2, Triton) over HTTP/REST.
//
// A batch is one request to {URL}/v2/models/{name}[/versions/{v}]/infer
// with the texts as a BYTES tensor "text" of shape [N, 1], asking for the
// output "probabilities": an FP32 (or FP64) tensor of shape [N, L] whose
// columns are the spec's labels in order. The model version is the
// response's model_version.
package openinference

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
)

// Names of the tensors a Chorus classifier exchanges.
const (
	InputName  = "text"
	OutputName = "probabilities"
)

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call   *httpx.Caller
	url    string
	labels *httpx.Labels
	nextID atomic.Uint64
}

var _ endpoint.Client = (*Client)(nil)

// New checks spec and returns a client for it.
func New(spec endpoint.Spec) (*Client, error) {
	base, err := httpx.BaseURL(spec)
	if err != nil {
		return nil, err
	}
	labels, err := httpx.NewLabels(spec.Name, spec.Labels)
	if err != nil {
		return nil, err
	}
	call, err := httpx.NewCaller(spec)
	if err != nil {
		return nil, err
	}
	target := base + "/v2/models/" + url.PathEscape(httpx.RemoteName(spec))
	if spec.Version != "" {
		target += "/versions/" + url.PathEscape(spec.Version)
	}
	return &Client{call: call, url: target + "/infer", labels: labels}, nil
}

type inferRequest struct {
	ID      string             `json:"id"`
	Inputs  [1]inputTensor     `json:"inputs"`
	Outputs [1]requestedOutput `json:"outputs"`
}

type inputTensor struct {
	Name     string   `json:"name"`
	Shape    [2]int   `json:"shape"`
	Datatype string   `json:"datatype"`
	Data     []string `json:"data"`
}

type requestedOutput struct {
	Name string `json:"name"`
}

type inferResponse struct {
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id"`
	Outputs      []outputTensor `json:"outputs"`
}

type outputTensor struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	// Data stays raw because the protocol allows it flat or nested, and
	// other outputs in the same response may hold strings.
	Data json.RawMessage `json:"data"`
}

// Predict scores texts with one infer request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	id := strconv.FormatUint(c.nextID.Add(1), 10)
	body := httpx.NewBuffer()
	req := inferRequest{ID: id}
	req.Inputs[0] = inputTensor{Name: InputName, Shape: [2]int{len(texts), 1}, Datatype: "BYTES", Data: texts}
	req.Outputs[0].Name = OutputName
	if err := body.Encode(&req); err != nil {
		return nil, httpx.SpecError("encode request: %w", err)
	}
	var res *endpoint.Result
	err := c.call.Post(ctx, c.url, body, func(b []byte, _ http.Header) error {
		var err error
		res, err = c.decode(b, id, len(texts))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Client) decode(b []byte, id string, n int) (*endpoint.Result, error) {
	var resp inferResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, httpx.BadResponse("decode infer response: %w", err)
	}
	if resp.ID != "" && resp.ID != id {
		return nil, httpx.BadResponse("response id %q for request %q", resp.ID, id)
	}
	var out *outputTensor
	for i := range resp.Outputs {
		if resp.Outputs[i].Name == OutputName {
			out = &resp.Outputs[i]
			break
		}
	}
	if out == nil {
		return nil, httpx.BadResponse("no output %q in response", OutputName)
	}
	if out.Datatype != "FP32" && out.Datatype != "FP64" {
		return nil, httpx.BadResponse("output %q has datatype %q, want FP32", OutputName, out.Datatype)
	}
	l := c.labels.Len()
	if len(out.Shape) != 2 || out.Shape[1] != l {
		return nil, httpx.BadResponse("output %q has shape %v, want [%d %d]", OutputName, out.Shape, n, l)
	}
	if err := httpx.CheckCount(out.Shape[0], n); err != nil {
		return nil, err
	}
	scores, flat := httpx.NewScores(n, l)
	got, err := parseNumbers(out.Data, flat)
	if err != nil {
		return nil, err
	}
	if got != n*l {
		return nil, httpx.BadResponse("output %q has %d values for shape [%d %d]", OutputName, got, n, l)
	}
	return &endpoint.Result{Scores: scores, Version: resp.ModelVersion}, nil
}

// parseNumbers writes the numbers of a flat or nested JSON array into dst
// in row-major order, checking each is a probability, and returns how many
// it found (counting past len(dst) without writing). b is valid JSON:
// the decoder checked it before handing it over as raw.
func parseNumbers(b []byte, dst []float64) (int, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return 0, httpx.BadResponse("output %q data is not an array", OutputName)
	}
	n := 0
	for i := 0; i < len(b); {
		switch ch := b[i]; {
		case ch == '[' || ch == ']' || ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '-' || (ch >= '0' && ch <= '9'):
			j := i + 1
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			v, err := strconv.ParseFloat(string(b[i:j]), 64)
			if err != nil {
				return 0, httpx.BadResponse("output %q value %q: %w", OutputName, b[i:j], err)
			}
			p, err := httpx.Prob(v)
			if err != nil {
				return 0, err
			}
			if n < len(dst) {
				dst[n] = p
			}
			n++
			i = j
		default:
			// Strings ("NaN", "Infinity"), booleans, null, objects.
			end := min(i+16, len(b))
			return 0, httpx.BadResponse("output %q holds a non-number near %q", OutputName, b[i:end])
		}
	}
	return n, nil
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}
