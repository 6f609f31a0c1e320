// Package sagemaker is the endpoint adapter for Amazon SageMaker AI
// real-time endpoints, called through the AWS SDK's SageMaker Runtime
// InvokeEndpoint: POST {runtime}/endpoints/{name}/invocations, signed
// with SigV4 for service "sagemaker".
//
// SageMaker passes the body to the model's container as it is, so the
// request and response forms are the container's, chosen per model:
//   - RequestInputs: application/json {"inputs": [...], "parameters":
//     {...}}, as the Hugging Face inference toolkit takes it;
//   - RequestInstances: application/json {"instances": [...],
//     "configuration": {"k": K}}, as BlazingText and TensorFlow Serving
//     take it;
//   - RequestJSONLines: application/jsonlines, one {"source": text}
//     (with "k") per line, BlazingText's other form.
//
// and the answer is read as ResponseLabelScore (the toolkit's list of
// {label, score}, flat or one list per text), ResponseBlazingText
// ({"prob": [...], "label": [...]} per text, a JSON list or JSON Lines) or
// ResponsePredictions ({"predictions": [...]}, each a list of
// probabilities in label order or of {label, score}). Server labels such
// as BlazingText's __label__positive or a model's LABEL_0 are mapped to
// the configured ones by a prefix and a map.
//
// The SDK never retries: its retryer is disabled so that package call is
// the one retry layer, and every Predict is one HTTP request. A batch
// whose body would pass SageMaker's payload limit is not sent; it comes
// back as a batch too large, with the number of texts that fit, and the
// call layer splits it.
package sagemaker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// Request is how the texts are written into the body.
type Request string

// Request forms.
const (
	RequestInputs    Request = "inputs"
	RequestInstances Request = "instances"
	RequestJSONLines Request = "jsonlines"
)

// Response is how the container writes its predictions.
type Response string

// Response forms.
const (
	ResponseLabelScore  Response = "label_score"
	ResponseBlazingText Response = "blazingtext"
	ResponsePredictions Response = "predictions"
)

// Requests and Responses list the forms, for config validation.
var (
	Requests  = []Request{RequestInputs, RequestInstances, RequestJSONLines}
	Responses = []Response{ResponseLabelScore, ResponseBlazingText, ResponsePredictions}
)

// Content types of the request forms.
const (
	ContentJSON      = "application/json"
	ContentJSONLines = "application/jsonlines"
)

// DefaultMaxPayloadBytes is InvokeEndpoint's limit on a request body for
// a real-time endpoint (6 MB); a serverless endpoint takes 4 MB.
const DefaultMaxPayloadBytes = 6 << 20

// Service is the SigV4 signing name of SageMaker Runtime.
const Service = "sagemaker"

// endpointName is CreateEndpoint's pattern for a name (at most 63
// characters); checking it here makes a typo a config error, not a
// request that fails at AWS.
var endpointName = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)

// Options are the adapter's settings beyond the spec.
type Options struct {
	// Region is the endpoint's AWS region. It names the runtime host
	// (runtime.sagemaker.{region}.amazonaws.com) unless spec.URL
	// overrides it, and it is the SigV4 signing region.
	Region string
	// Credentials sign the requests (the AWS default chain: IRSA, the
	// environment, a profile, instance roles). Nil sends them unsigned,
	// for a gateway at spec.URL that authenticates by itself; then, and
	// only then, spec headers and url userinfo may carry Authorization.
	Credentials aws.CredentialsProvider
	// Endpoint is the SageMaker endpoint name; default the spec's
	// remote name.
	Endpoint string
	// TargetVariant, TargetModel, InferenceComponent and
	// TargetContainerHostname route the request within the endpoint (a
	// production variant, a model of a multi-model endpoint, an
	// inference component, a container of a direct-invocation
	// pipeline). Empty sends none.
	TargetVariant           string
	TargetModel             string
	InferenceComponent      string
	TargetContainerHostname string
	// CustomAttributes is sent as X-Amzn-SageMaker-Custom-Attributes.
	CustomAttributes string
	// Request and Response are the body forms (default RequestInputs
	// and ResponseLabelScore, the Hugging Face toolkit's).
	Request  Request
	Response Response
	// Parameters is the "parameters" object of RequestInputs (the
	// toolkit passes it to the pipeline: top_k, truncation...). Each
	// value is JSON text.
	Parameters map[string]string
	// K asks BlazingText for its top K labels (default 1, the top one
	// only): "configuration": {"k": K}, or "k" on each line.
	K int
	// LabelPrefix is cut from the server's labels (e.g. "__label__").
	LabelPrefix string
	// LabelMap renames a server label (after the prefix is cut) to a
	// configured one (e.g. LABEL_0: negative).
	LabelMap map[string]string
	// MaxPayloadBytes bounds a request body; default
	// DefaultMaxPayloadBytes.
	MaxPayloadBytes int
}

// Client calls one SageMaker endpoint. It is safe for concurrent use.
type Client struct {
	api       *sagemakerruntime.Client
	input     sagemakerruntime.InvokeEndpointInput
	spec      endpoint.Spec
	opts      Options
	labels    *httpx.Labels
	timeout   time.Duration
	maxBody   int
	rename    map[string]string
	prefix    []byte
	headers   []header
	head, sep []byte // the request around the texts; see encode
	pre, post []byte
	tail      []byte
}

type header struct{ key, value string }

var _ endpoint.Client = (*Client)(nil)

// New checks spec and opts and returns a client. spec.URL overrides the
// runtime's regional URL (a VPC endpoint, a gateway, tests); spec.Version
// is not used: SageMaker routes by variant, and the variant that answered
// is the version each result carries.
func New(spec endpoint.Spec, opts Options) (*Client, error) {
	c := &Client{spec: spec, opts: opts, timeout: spec.Timeout, maxBody: opts.MaxPayloadBytes}
	if err := c.checkOptions(); err != nil {
		return nil, err
	}
	if spec.Timeout < 0 {
		return nil, httpx.SpecError("model %q: negative timeout %v", spec.Name, spec.Timeout)
	}
	if spec.MaxResponseBytes < 0 {
		return nil, httpx.SpecError("model %q: negative max response bytes %d", spec.Name, spec.MaxResponseBytes)
	}
	if err := httpx.CheckVersion(spec.Version); err != nil {
		return nil, httpx.SpecError("model %q: version: %v", spec.Name, err)
	}
	labels, err := httpx.NewLabels(spec)
	if err != nil {
		return nil, err
	}
	c.labels = labels
	base, basic, err := c.baseURL()
	if err != nil {
		return nil, err
	}
	if err := c.checkHeaders(basic); err != nil {
		return nil, err
	}
	if err := c.buildRequest(); err != nil {
		return nil, err
	}
	hc, err := httpClient(spec)
	if err != nil {
		return nil, err
	}
	creds := opts.Credentials
	if creds == nil {
		creds = aws.AnonymousCredentials{}
	}
	c.api = sagemakerruntime.New(sagemakerruntime.Options{
		Region:      opts.Region,
		Credentials: creds,
		HTTPClient:  hc,
		// Chorus retries in one place, package call, with the model's
		// policy and breaker; the SDK's own retries would multiply them.
		Retryer:          aws.NopRetryer{},
		RetryMaxAttempts: 1,
		BaseEndpoint:     base,
		APIOptions:       []func(*middleware.Stack) error{c.addHeaders},
	})
	return c, nil
}

func (c *Client) checkOptions() error {
	o, name := &c.opts, c.spec.Name
	if o.Endpoint == "" {
		o.Endpoint = httpx.RemoteName(c.spec)
	}
	if len(o.Endpoint) > 63 || !endpointName.MatchString(o.Endpoint) {
		return httpx.SpecError("model %q: endpoint name %q is not a SageMaker endpoint name (letters, digits and hyphens, at most 63)", name, httpx.Truncate(o.Endpoint))
	}
	if o.Request == "" {
		o.Request = RequestInputs
	}
	if !slices.Contains(Requests, o.Request) {
		return httpx.SpecError("model %q: request form %q is not one of %s", name, o.Request, list(Requests))
	}
	if o.Response == "" {
		o.Response = ResponseLabelScore
	}
	if !slices.Contains(Responses, o.Response) {
		return httpx.SpecError("model %q: response form %q is not one of %s", name, o.Response, list(Responses))
	}
	if len(o.Parameters) > 0 && o.Request != RequestInputs {
		return httpx.SpecError("model %q: parameters are sent with request form %s only", name, RequestInputs)
	}
	if o.K < 0 || (o.K > 0 && o.Request == RequestInputs) {
		return httpx.SpecError("model %q: k must be positive and is for request forms %s and %s (the toolkit takes parameters.top_k)", name, RequestInstances, RequestJSONLines)
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxPayloadBytes
	}
	if c.maxBody < 0 {
		return httpx.SpecError("model %q: negative max payload bytes %d", name, c.maxBody)
	}
	for _, v := range []string{o.CustomAttributes, o.TargetVariant, o.TargetModel, o.InferenceComponent, o.TargetContainerHostname} {
		if !visibleASCII(v) {
			return httpx.SpecError("model %q: a routing header or custom attributes value holds characters a header cannot carry (visible US-ASCII only, at most 1024)", name)
		}
	}
	c.rename = o.LabelMap
	c.prefix = []byte(o.LabelPrefix)
	return nil
}

// visibleASCII is what SageMaker takes in its routing and custom
// attribute headers (RFC 7230 field-value characters, at most 1024).
func visibleASCII(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// baseURL checks spec.URL, the override of the regional runtime URL, and
// returns it without userinfo or a trailing slash, with the basic auth
// header its userinfo makes. Without a URL the region names the host.
func (c *Client) baseURL() (base *string, basic string, err error) {
	if c.spec.URL == "" {
		if c.opts.Region == "" {
			return nil, "", httpx.SpecError("model %q: no region and no url: one of them names the SageMaker runtime to call", c.spec.Name)
		}
		return nil, "", nil
	}
	b, err := httpx.BaseURL(c.spec)
	if err != nil {
		return nil, "", err
	}
	if u, _ := url.Parse(c.spec.URL); u != nil && u.User != nil {
		pw, _ := u.User.Password()
		basic = "Basic " + b64(u.User.Username()+":"+pw)
	}
	return &b, basic, nil
}

// checkHeaders keeps the spec's headers for every request. A signed
// request's Authorization is SigV4's: a configured one would be
// overwritten by the signer, or worse overwrite it, so it is refused.
func (c *Client) checkHeaders(basic string) error {
	signed := c.opts.Credentials != nil
	hasAuth := basic != ""
	for k, v := range c.spec.Headers {
		if strings.EqualFold(k, "Authorization") {
			hasAuth = true
		}
		c.headers = append(c.headers, header{http.CanonicalHeaderKey(k), v})
	}
	if signed && hasAuth {
		return httpx.SpecError("model %q: requests are signed with SigV4, which sets Authorization: drop the Authorization header, bearer token or url userinfo", c.spec.Name)
	}
	if basic != "" && c.spec.Headers["Authorization"] == "" {
		c.headers = append(c.headers, header{"Authorization", basic})
	}
	slices.SortFunc(c.headers, func(a, b header) int { return strings.Compare(a.key, b.key) })
	return nil
}

// addHeaders sets the spec's headers before the request is signed, so
// that a signed request signs them too.
func (c *Client) addHeaders(stack *middleware.Stack) error {
	if len(c.headers) == 0 {
		return nil
	}
	return stack.Build.Add(middleware.BuildMiddlewareFunc("ChorusHeaders", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			for _, h := range c.headers {
				if strings.EqualFold(h.key, "Host") {
					req.Host = h.value
					continue
				}
				req.Header[h.key] = []string{h.value}
			}
		}
		return next.HandleBuild(ctx, in)
	}), middleware.After)
}

// buildRequest writes the parts of the body around the texts: head opens
// it, each text goes between pre and post, sep goes between two texts
// and tail closes it.
func (c *Client) buildRequest() error {
	o := &c.opts
	contentType := ContentJSON
	switch o.Request {
	case RequestInputs:
		c.head, c.sep, c.tail = []byte(`{"inputs":[`), []byte(`,`), []byte(`]`)
		if len(o.Parameters) > 0 {
			var p bytes.Buffer
			p.WriteString(`,"parameters":{`)
			keys := make([]string, 0, len(o.Parameters))
			for k := range o.Parameters {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				if i > 0 {
					p.WriteByte(',')
				}
				kb, _ := json.Marshal(k)
				p.Write(kb)
				p.WriteByte(':')
				if err := json.Compact(&p, []byte(o.Parameters[k])); err != nil {
					return httpx.SpecError("model %q: parameter %q is not JSON text: %v", c.spec.Name, k, err)
				}
			}
			p.WriteByte('}')
			c.tail = append(c.tail, p.Bytes()...)
		}
		c.tail = append(c.tail, '}')
	case RequestInstances:
		c.head, c.sep, c.tail = []byte(`{"instances":[`), []byte(`,`), []byte(`]`)
		if o.K > 0 {
			c.tail = append(c.tail, `,"configuration":{"k":`+strconv.Itoa(o.K)+`}`...)
		}
		c.tail = append(c.tail, '}')
	case RequestJSONLines:
		contentType = ContentJSONLines
		c.pre, c.post = []byte(`{"source":`), []byte(`}`+"\n")
		if o.K > 0 {
			c.post = []byte(`,"k":` + strconv.Itoa(o.K) + "}\n")
		}
	}
	accept := contentType
	c.input = sagemakerruntime.InvokeEndpointInput{
		EndpointName: aws.String(o.Endpoint),
		ContentType:  aws.String(contentType),
		// BlazingText answers in the form it was asked in and ignores an
		// Accept that differs; the others answer JSON for JSON.
		Accept:                  aws.String(accept),
		CustomAttributes:        optional(o.CustomAttributes),
		TargetVariant:           optional(o.TargetVariant),
		TargetModel:             optional(o.TargetModel),
		InferenceComponentName:  optional(o.InferenceComponent),
		TargetContainerHostname: optional(o.TargetContainerHostname),
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// encode writes texts into one request body.
func (c *Client) encode(texts []string) ([]byte, error) {
	var b bytes.Buffer
	n := len(c.head) + len(c.tail)
	for _, t := range texts {
		n += len(t) + len(c.pre) + len(c.post) + len(c.sep) + 2
	}
	b.Grow(n + n/8)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.Write(c.head)
	for i, t := range texts {
		if i > 0 {
			b.Write(c.sep)
		}
		b.Write(c.pre)
		if err := enc.Encode(t); err != nil {
			return nil, httpx.SpecError("encode request: %w", err)
		}
		b.Truncate(b.Len() - 1) // the Encoder's newline
		b.Write(c.post)
	}
	b.Write(c.tail)
	return b.Bytes(), nil
}

// Predict scores texts with one InvokeEndpoint request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	body, err := c.encode(texts)
	if err != nil {
		return nil, err
	}
	if len(body) > c.maxBody {
		return nil, c.tooLarge(len(texts), len(body))
	}
	in := c.input
	in.Body = body
	reqCtx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	out, err := c.api.InvokeEndpoint(withPayload(reqCtx, body), &in)
	if err != nil {
		return nil, c.classify(ctx, err)
	}
	res, err := c.decode(out.Body, len(texts))
	if err != nil {
		return nil, err
	}
	if v := aws.ToString(out.InvokedProductionVariant); v != "" {
		if err := httpx.CheckVersion(v); err != nil {
			return nil, httpx.Wrap(err, "invoked production variant")
		}
		res.Version = v
	}
	return res, nil
}

// tooLarge reports a batch whose body would pass the payload limit,
// without sending it: SageMaker would refuse it whole, and the call layer
// splits a batch too large to the number of texts that fit, estimated
// from this body's bytes per text.
func (c *Client) tooLarge(n, size int) error {
	fit := max(1, int(int64(n)*int64(c.maxBody)/int64(size)))
	if fit >= n {
		fit = n - 1
	}
	err := fmt.Errorf("model %q: a request of %d texts is %d bytes, over the %d-byte payload limit of InvokeEndpoint", c.spec.Name, n, size, c.maxBody)
	if fit > 0 {
		err = &endpoint.LimitError{Max: fit, Err: err}
	}
	return errkind.New(errkind.Permanent, endpoint.ReasonBatchTooLarge, err)
}

func list[T ~string](forms []T) string {
	s := make([]string, len(forms))
	for i, f := range forms {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}
