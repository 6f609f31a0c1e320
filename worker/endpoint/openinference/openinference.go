// Package openinference is the endpoint adapter for the Open Inference
// Protocol (KServe v2, Triton) over HTTP/REST.
//
// A batch is one request to {URL}/v2/models/{name}[/versions/{v}]/infer
// with the texts as one BYTES input tensor of shape [N] or [N, 1], asking
// for one output. The output is read in the configured Format: class
// probabilities, logits, class indexes, the KServe Hugging Face runtime's
// stringified probability dicts, or Triton's classification extension.
// Tensor names that are not configured are read from the model metadata
// (GET {URL}/v2/models/{name}[/versions/{v}]) at Start. The model version
// is the response's model_version, else the pinned or only version the
// metadata lists.
package openinference

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
)

// Format is how the requested output encodes the scores.
type Format string

// Output formats.
const (
	// FormatProbabilities: FP32/FP64 [N, L], one probability per
	// configured label, in label order.
	FormatProbabilities Format = "probabilities"
	// FormatLogits: FP32/FP64 [N, L] raw scores, turned into
	// probabilities with the Activation (softmax by default).
	FormatLogits Format = "logits"
	// FormatClassIndex: INT32/INT64 [N] or [N, 1], the index of the
	// predicted label; scored 1 for that label and 0 for the others.
	// FP32/FP64 whole numbers are read too: XGBoost writes its class ids
	// so.
	FormatClassIndex Format = "class_index"
	// FormatHFProbabilities: the KServe Hugging Face runtime's answer with
	// return_probabilities: BYTES [N] (its docs show [N, 1]), each a
	// Python dict literal mapping a class index (or quoted label) to its
	// probability: "{0: 0.02, 1: 0.98}". With return_raw_logits the dicts
	// hold logits: set an Activation.
	FormatHFProbabilities Format = "hf_probabilities"
	// FormatClassification: Triton's classification extension: BYTES
	// (STRING in its docs) [N, K] "score:index[:label]" strings for the
	// top K classes, asked for with the output parameter classification:
	// K; [K] from a model without a batch dimension, which takes one text
	// per request. Labels are taken from the strings, else the index
	// picks a configured label. The score is the raw output value, often
	// a logit: then set an Activation.
	FormatClassification Format = "classification"
)

// Formats lists every Format, for config validation.
var Formats = []Format{FormatProbabilities, FormatLogits, FormatClassIndex, FormatHFProbabilities, FormatClassification}

// Activation turns logits into probabilities.
type Activation string

// Activations.
const (
	// ActivationNone: the values are probabilities already.
	ActivationNone Activation = ""
	// ActivationSoftmax: one label per text (the scores of a row sum to 1).
	ActivationSoftmax Activation = "softmax"
	// ActivationSigmoid: each label scored on its own (multi-label models).
	ActivationSigmoid Activation = "sigmoid"
)

// Shape is the form of the input tensor.
type Shape string

// Input shapes.
const (
	// ShapeAuto: the metadata's, when the input name is read from it;
	// else ShapeN1.
	ShapeAuto Shape = ""
	ShapeN    Shape = "[N]"
	ShapeN1   Shape = "[N,1]"
)

// DatatypeBytes is the only input datatype texts travel in.
const DatatypeBytes = "BYTES"

// Input configures the input tensor.
type Input struct {
	// Name of the input tensor; "" reads it from the model metadata (the
	// model's one BYTES input).
	Name string
	// Datatype must be BYTES ("" means BYTES).
	Datatype string
	// Shape is [N] or [N,1]; "" takes it from the metadata when Name is
	// read from it, else [N,1].
	Shape Shape
}

// Output configures the output tensor.
type Output struct {
	// Name of the output tensor; "" reads it from the model metadata (the
	// model's one output of a datatype Format can read), or, when the
	// metadata lists no outputs, takes the response's only output.
	Name string
	// Format of the output; "" means FormatProbabilities.
	Format Format
	// Activation applies to FormatLogits (default softmax), and to
	// FormatHFProbabilities and FormatClassification when the values are
	// logits (default none).
	Activation Activation
	// Classification is K for FormatClassification: how many of the top
	// classes to ask for (0: as many as there are labels).
	Classification int
}

// Options are the protocol settings of one model.
type Options struct {
	Input  Input
	Output Output
}

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call    *httpx.Caller
	model   string // spec.Name, for messages
	meta    string // metadata URL
	url     string // infer URL
	labels  *httpx.Labels
	opts    Options
	version string // spec.Version
	nextID  atomic.Uint64

	mu   sync.Mutex // serialises resolving the plan
	plan atomic.Pointer[plan]
}

// plan is what a request needs once the tensor names are known.
type plan struct {
	input   string
	shape   Shape
	output  string // "" takes the response's only output
	params  *outputParams
	version string // from the metadata, for responses that carry none
}

var (
	_ endpoint.Client  = (*Client)(nil)
	_ endpoint.Starter = (*Client)(nil)
)

// New checks spec and opts and returns a client. At most one Options may
// be given; none means every default (names read from the metadata,
// probabilities).
func New(spec endpoint.Spec, opts ...Options) (*Client, error) {
	if len(opts) > 1 {
		return nil, httpx.SpecError("model %q: %d option sets, want at most 1", spec.Name, len(opts))
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	b, err := httpx.NewBase(spec)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(spec.Name, &o, b.Labels.Len()); err != nil {
		return nil, err
	}
	target := b.URL + "/v2/models/" + url.PathEscape(httpx.RemoteName(spec))
	if spec.Version != "" {
		target += "/versions/" + url.PathEscape(spec.Version)
	}
	c := &Client{call: b.Caller, model: spec.Name, meta: target, url: target + "/infer",
		labels: b.Labels, opts: o, version: spec.Version}
	if o.Input.Name != "" && o.Output.Name != "" {
		shape := o.Input.Shape
		if shape == ShapeAuto {
			shape = ShapeN1
		}
		c.plan.Store(c.newPlan(o.Input.Name, shape, o.Output.Name, ""))
	}
	return c, nil
}

// checkOptions fills in defaults and refuses settings that can never work.
func checkOptions(model string, o *Options, labels int) error {
	if o.Input.Datatype == "" {
		o.Input.Datatype = DatatypeBytes
	}
	if o.Input.Datatype != DatatypeBytes {
		return httpx.SpecError("model %q: input datatype %q: texts are sent as BYTES", model, o.Input.Datatype)
	}
	switch o.Input.Shape {
	case ShapeAuto, ShapeN, ShapeN1:
	default:
		return httpx.SpecError("model %q: input shape %q, want %s or %s", model, o.Input.Shape, ShapeN, ShapeN1)
	}
	if o.Output.Format == "" {
		o.Output.Format = FormatProbabilities
	}
	switch o.Output.Format {
	case FormatProbabilities, FormatClassIndex:
		if o.Output.Activation != ActivationNone {
			return httpx.SpecError("model %q: activation %q applies to formats %s, %s and %s only", model, o.Output.Activation, FormatLogits, FormatHFProbabilities, FormatClassification)
		}
	case FormatHFProbabilities:
		// none: probabilities (return_probabilities); softmax or sigmoid:
		// the same dicts holding raw logits (return_raw_logits).
	case FormatLogits:
		if o.Output.Activation == ActivationNone {
			o.Output.Activation = ActivationSoftmax
		}
	case FormatClassification:
	default:
		return httpx.SpecError("model %q: unknown output format %q", model, o.Output.Format)
	}
	switch o.Output.Activation {
	case ActivationNone, ActivationSoftmax, ActivationSigmoid:
	default:
		return httpx.SpecError("model %q: activation %q, want %s or %s", model, o.Output.Activation, ActivationSoftmax, ActivationSigmoid)
	}
	k := o.Output.Classification
	switch {
	case k < 0:
		return httpx.SpecError("model %q: classification %d is negative", model, k)
	case k > 0 && o.Output.Format != FormatClassification:
		return httpx.SpecError("model %q: classification is set, but format is %q", model, o.Output.Format)
	case o.Output.Format == FormatClassification && o.Output.Activation == ActivationSoftmax && k > 0 && k < labels:
		// A softmax over the top K alone would inflate every score.
		return httpx.SpecError("model %q: softmax over classification results needs all %d classes, not the top %d", model, labels, k)
	}
	if o.Output.Format == FormatClassification && k == 0 {
		o.Output.Classification = labels
	}
	return nil
}

func (c *Client) newPlan(input string, shape Shape, output, version string) *plan {
	p := &plan{input: input, shape: shape, output: output, version: version}
	if c.opts.Output.Format == FormatClassification {
		p.params = &outputParams{Classification: c.opts.Output.Classification}
	}
	return p
}

type inferRequest struct {
	// ID is a counter, not checked in the answer: Triton puts it in its
	// error messages ("[request id: 7] ..."), which ties them to a batch.
	ID      string            `json:"id"`
	Inputs  [1]inputTensor    `json:"inputs"`
	Outputs []requestedOutput `json:"outputs,omitempty"`
	// Backing arrays of the slices above: one allocation per request.
	shape [2]int
	out   [1]requestedOutput
}

type inputTensor struct {
	Name     string   `json:"name"`
	Shape    []int    `json:"shape"`
	Datatype string   `json:"datatype"`
	Data     []string `json:"data"`
}

type requestedOutput struct {
	Name       string        `json:"name"`
	Parameters *outputParams `json:"parameters,omitempty"`
}

type outputParams struct {
	Classification int `json:"classification"`
}

// Predict scores texts with one infer request. A client whose tensor names
// come from the metadata and that has not been started reads the metadata
// first.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	p := c.plan.Load()
	if p == nil {
		if _, err := c.Start(ctx); err != nil {
			return nil, err
		}
		p = c.plan.Load()
	}
	id := strconv.FormatUint(c.nextID.Add(1), 10)
	req := &inferRequest{ID: id}
	in := &req.Inputs[0]
	in.Name, in.Datatype, in.Data = p.input, DatatypeBytes, texts
	req.shape = [2]int{len(texts), 1}
	in.Shape = req.shape[:2]
	if p.shape == ShapeN {
		in.Shape = req.shape[:1]
	}
	if p.output != "" {
		req.out[0] = requestedOutput{Name: p.output, Parameters: p.params}
		req.Outputs = req.out[:]
	}
	res, err := httpx.PostJSON(ctx, c.call, c.url, req, func(b []byte, _ http.Header) (*endpoint.Result, error) {
		return c.decode(b, p, len(texts))
	})
	if err != nil {
		return nil, c.classify(err, p)
	}
	return res, nil
}
