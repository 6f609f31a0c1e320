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
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
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
	b, err := httpx.NewBase(spec)
	if err != nil {
		return nil, err
	}
	target := b.URL + "/v2/models/" + url.PathEscape(httpx.RemoteName(spec))
	if spec.Version != "" {
		target += "/versions/" + url.PathEscape(spec.Version)
	}
	return &Client{call: b.Caller, url: target + "/infer", labels: b.Labels}, nil
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

// Predict scores texts with one infer request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	id := strconv.FormatUint(c.nextID.Add(1), 10)
	req := inferRequest{ID: id}
	req.Inputs[0] = inputTensor{Name: InputName, Shape: [2]int{len(texts), 1}, Datatype: "BYTES", Data: texts}
	req.Outputs[0].Name = OutputName
	return httpx.PostJSON(ctx, c.call, c.url, &req, func(b []byte, _ http.Header) (*endpoint.Result, error) {
		return c.decode(b, id, len(texts))
	})
}

// output is what decode keeps of one output tensor until it has seen all
// of the tensor's members, which may come in any order.
type output struct {
	name, datatype []byte
	shape          [2]int
	dims           int
	data           []byte
}

func (c *Client) decode(b []byte, id string, n int) (*endpoint.Result, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return nil, httpx.BadResponse("infer response is not JSON: %q", snippet(b))
	}
	if !s.Object() {
		return nil, httpx.BadResponse("infer response is not an object: %q", snippet(b))
	}
	var version string
	var out *output
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "model_version":
			version, _ = s.String()
		case "id":
			raw, _, ok := s.RawString()
			if ok && len(raw) > 0 && string(raw) != id {
				return nil, httpx.BadResponse("response id %q for request %q", raw, id)
			}
		case "outputs":
			if !s.Array() {
				return nil, httpx.BadResponse("outputs is not an array")
			}
			for s.More() {
				o, err := readOutput(s)
				if err != nil {
					return nil, err
				}
				if string(o.name) == OutputName {
					out = &o
				}
			}
		}
		s.Skip() // The value, unless a case above consumed it.
	}
	if out == nil {
		return nil, httpx.BadResponse("no output %q in response", OutputName)
	}
	if dt := string(out.datatype); dt != "FP32" && dt != "FP64" {
		return nil, httpx.BadResponse("output %q has datatype %q, want FP32", OutputName, out.datatype)
	}
	l := c.labels.Len()
	if out.dims != 2 || out.shape[1] != l {
		return nil, httpx.BadResponse("output %q has shape %v (%d dims), want [%d %d]", OutputName, out.shape, out.dims, n, l)
	}
	if err := httpx.CheckCount(out.shape[0], n); err != nil {
		return nil, err
	}
	if out.data == nil {
		return nil, httpx.BadResponse("output %q has no data", OutputName)
	}
	scores, flat := httpx.NewScores(n, l)
	data := jsonscan.Valid(out.data)
	if data.Peek() != '[' {
		return nil, httpx.BadResponse("output %q data is not an array", OutputName)
	}
	got := 0
	if err := flatten(&data, flat, &got); err != nil {
		return nil, err
	}
	if got != n*l {
		return nil, httpx.BadResponse("output %q has %d values for shape [%d %d]", OutputName, got, n, l)
	}
	if err := httpx.CheckVersion(version); err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores, Version: version}, nil
}

func readOutput(s *jsonscan.Scanner) (output, error) {
	var o output
	if !s.Object() {
		return o, httpx.BadResponse("output is not an object")
	}
	for {
		k, more := s.Key()
		if !more {
			return o, nil
		}
		switch string(k) {
		case "name":
			o.name, _, _ = s.RawString()
		case "datatype":
			o.datatype, _, _ = s.RawString()
		case "shape":
			if s.Array() {
				for s.More() {
					d, ok := s.Int()
					if !ok {
						return o, httpx.BadResponse("output shape holds %q", s.Snippet(16))
					}
					if o.dims < len(o.shape) {
						o.shape[o.dims] = d
					}
					o.dims++
				}
			}
		case "data":
			// Kept raw: the protocol allows it flat or nested, and it may
			// come before the name says whether it is ours.
			o.data = s.Raw()
		}
		s.Skip()
	}
}

// flatten writes the numbers of a flat or nested array into dst in
// row-major order, checking each is a probability, and counts them in n
// (counting past len(dst) without writing).
func flatten(s *jsonscan.Scanner, dst []float64, n *int) error {
	if s.Array() {
		for s.More() {
			if err := flatten(s, dst, n); err != nil {
				return err
			}
		}
		return nil
	}
	v, ok := s.Number()
	if !ok {
		// Strings ("NaN", "Infinity"), booleans, null, objects.
		return httpx.BadResponse("output %q holds a non-number: %q", OutputName, s.Snippet(16))
	}
	p, err := httpx.Prob(v)
	if err != nil {
		return err
	}
	if *n < len(dst) {
		dst[*n] = p
	}
	*n++
	return nil
}

func snippet(b []byte) []byte { return b[:min(len(b), 64)] }
