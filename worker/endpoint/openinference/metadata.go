package openinference

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
)

// metadata is the model metadata response
// (GET /v2/models/{name}[/versions/{v}]); what Start does not use is left
// out.
type metadata struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []tensorMeta `json:"inputs"`
	Outputs  []tensorMeta `json:"outputs"`
}

type tensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (t tensorMeta) String() string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s (%s [%s])", httpx.Truncate(t.Name), httpx.Truncate(t.Datatype), strings.Join(dims, ","))
}

func list(ts []tensorMeta) string {
	if len(ts) == 0 {
		return "none"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// Start reads the model metadata when a tensor name is not configured and
// picks the tensors from it. A model the server does not know is
// Misconfigured (not_found); one that is loading (503) is Retryable.
func (c *Client) Start(ctx context.Context) (endpoint.Info, error) {
	if p := c.plan.Load(); p != nil {
		return endpoint.Info{Version: c.infoVersion(p)}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.plan.Load(); p != nil {
		return endpoint.Info{Version: c.infoVersion(p)}, nil
	}
	var md metadata
	err := c.call.Get(ctx, c.meta, func(b []byte, _ http.Header) error {
		if err := json.Unmarshal(b, &md); err != nil {
			return httpx.BadResponse("model metadata is not JSON: %v", err)
		}
		return nil
	})
	if err != nil {
		return endpoint.Info{}, httpx.Wrap(c.classify(err, nil), "model %q: model metadata", c.model)
	}
	p, err := c.resolve(&md)
	if err != nil {
		return endpoint.Info{}, err
	}
	c.plan.Store(p)
	return endpoint.Info{Version: c.infoVersion(p)}, nil
}

func (c *Client) infoVersion(p *plan) string {
	if c.version != "" {
		return c.version
	}
	return p.version
}

// resolve picks the input and output the options leave open.
func (c *Client) resolve(md *metadata) (*plan, error) {
	in, err := c.pickInput(md.Inputs)
	if err != nil {
		return nil, err
	}
	out, err := c.pickOutput(md.Outputs)
	if err != nil {
		return nil, err
	}
	var version string
	if len(md.Versions) == 1 && httpx.CheckVersion(md.Versions[0]) == nil {
		version = md.Versions[0]
	}
	return c.newPlan(in.name, in.shape, out, version), nil
}

type pickedInput struct {
	name  string
	shape Shape
}

func (c *Client) pickInput(inputs []tensorMeta) (pickedInput, error) {
	o := c.opts.Input
	var t tensorMeta
	switch {
	case o.Name != "" && len(inputs) == 0:
		// KServe's Python runtimes describe no tensors: a configured name
		// is taken on trust, and the server will say if it is wrong.
		shape := o.Shape
		if shape == ShapeAuto {
			shape = ShapeN
		}
		return pickedInput{name: o.Name, shape: shape}, nil
	case o.Name != "":
		i := slices.IndexFunc(inputs, func(t tensorMeta) bool { return t.Name == o.Name })
		if i < 0 {
			return pickedInput{}, c.incompatible("input %q is not in the model metadata; it lists: %s; set open_inference.input.name", o.Name, list(inputs))
		}
		t = inputs[i]
	default:
		var texts []tensorMeta
		for _, t := range inputs {
			if t.Datatype == DatatypeBytes {
				texts = append(texts, t)
			}
		}
		switch len(texts) {
		case 1:
			t = texts[0]
		case 0:
			if len(inputs) == 0 {
				return pickedInput{}, c.incompatible("the model metadata describes no inputs (KServe's Python runtimes list none); set open_inference.input.name (input-0 for the KServe Hugging Face runtime)")
			}
			return pickedInput{}, c.incompatible("the model metadata lists no BYTES input to send texts in; it lists: %s; set open_inference.input.name", list(inputs))
		default:
			return pickedInput{}, c.incompatible("the model metadata lists several BYTES inputs: %s; set open_inference.input.name", list(texts))
		}
	}
	if t.Datatype != DatatypeBytes {
		return pickedInput{}, c.incompatible("input %s takes %s, not the BYTES texts are sent in", t, httpx.Truncate(t.Datatype))
	}
	shape, ok := metaShape(t.Shape)
	switch {
	case !ok:
		return pickedInput{}, c.incompatible("input %s is not shaped [N] or [N,1]: a text classifier takes one text per row", t)
	case o.Shape != ShapeAuto && o.Shape != shape:
		return pickedInput{}, c.incompatible("input %s takes shape %s, not the configured %s; set open_inference.input.shape", t, shape, o.Shape)
	}
	return pickedInput{t.Name, shape}, nil
}

// metaShape reads the input form from a metadata shape: [-1] or [N] is
// [N]; [-1, 1] is [N, 1]. Triton lists a batching model's shape with its
// batch dimension (-1) first.
func metaShape(dims []int64) (Shape, bool) {
	switch {
	case len(dims) == 1:
		return ShapeN, true
	case len(dims) == 2 && (dims[1] == 1 || dims[1] == -1):
		return ShapeN1, true
	}
	return "", false
}

// datatypes are the output datatypes each format reads. Classification
// is asked of a numeric output, which the server turns into BYTES.
func datatypes(f Format) []string {
	switch f {
	case FormatClassIndex:
		return []string{"INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16"}
	case FormatHFProbabilities:
		return []string{DatatypeBytes}
	default:
		return []string{"FP16", "BF16", "FP32", "FP64"}
	}
}

func (c *Client) pickOutput(outputs []tensorMeta) (string, error) {
	o := c.opts.Output
	want := datatypes(o.Format)
	if o.Name != "" && len(outputs) == 0 {
		return o.Name, nil // as for inputs: no tensors described
	}
	if o.Name != "" {
		i := slices.IndexFunc(outputs, func(t tensorMeta) bool { return t.Name == o.Name })
		if i < 0 {
			return "", c.incompatible("output %q is not in the model metadata; it lists: %s; set open_inference.output.name", o.Name, list(outputs))
		}
		if t := outputs[i]; !slices.Contains(want, t.Datatype) {
			return "", c.incompatible("output %s cannot be read as format %s, which takes %s; set open_inference.output.format", t, o.Format, strings.Join(want, ", "))
		}
		if err := c.checkLabelDim(outputs[i]); err != nil {
			return "", err
		}
		return o.Name, nil
	}
	if len(outputs) == 0 {
		// Servers that list no outputs (KServe's Python runtimes) answer
		// with their own; the response's only output is taken.
		return "", nil
	}
	var fit []tensorMeta
	for _, t := range outputs {
		if slices.Contains(want, t.Datatype) {
			fit = append(fit, t)
		}
	}
	switch len(fit) {
	case 1:
		if err := c.checkLabelDim(fit[0]); err != nil {
			return "", err
		}
		return fit[0].Name, nil
	case 0:
		return "", c.incompatible("the model metadata lists no output that format %s can read (%s); it lists: %s; set open_inference.output.name and open_inference.output.format", o.Format, strings.Join(want, ", "), list(outputs))
	default:
		return "", c.incompatible("the model metadata lists several outputs that format %s can read: %s; set open_inference.output.name", o.Format, list(fit))
	}
}

// checkLabelDim refuses a score tensor whose label dimension the metadata
// fixes at a number other than the configured labels'.
func (c *Client) checkLabelDim(t tensorMeta) error {
	switch c.opts.Output.Format {
	case FormatProbabilities, FormatLogits:
	default:
		return nil
	}
	if len(t.Shape) == 2 && t.Shape[1] > 0 && int(t.Shape[1]) != c.labels.Len() {
		return c.incompatible("output %s scores %d labels, but %d are configured (%s); set labels to the model's classes, in order", t, t.Shape[1], c.labels.Len(), strings.Join(c.labels.Names(), ", "))
	}
	return nil
}

func (c *Client) incompatible(format string, args ...any) error {
	return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: %s", c.model, fmt.Sprintf(format, args...))
}
