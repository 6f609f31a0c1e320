// Package openai is the endpoint adapter for OpenAI-compatible chat
// completions (OpenAI, Azure OpenAI, vLLM, TGI, Ollama) used as a
// zero-shot classifier: the model's labels are tags described in words (or
// sentiment labels), and an LLM picks them for each text.
//
// A batch is one POST to {URL}/chat/completions through the official
// openai-go client, with its own retries off (Chorus's call layer is the
// one retry layer). The request holds a system prompt naming each label
// with its description, a user message holding the texts as JSON
// ({"texts": [{"index": 0, "text": "…"}, …]}: data, not instructions),
// temperature 0, a seed, max_tokens, and response_format json_schema with
// a strict schema whose tag (or label) is an enum of the configured labels
// and whose results array has exactly one entry per text.
//
// The answer is machine-checked: a refusal, invalid JSON, a wrong count or
// index, an unknown label, a missing or out-of-range confidence are a bad
// response, tried once more and then failed for those jobs (the
// pipeline's quorum decides). An answer cut at max_tokens is a batch too
// large (the call layer splits it) unless it is for one text. A label's
// score is, where the server returns logprobs (Options.Logprobs), the
// probability of the tokens the model wrote for it; else the confidence
// the model wrote. A label not given scores 0; for sentiment, the labels
// not chosen share what the chosen one leaves.
//
// The prompt and completion tokens each response bills (usage) are
// reported through endpoint.ReportUsage, so that the worker can charge
// them to the tenants of the batch.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// Task is what the model is asked for.
type Task string

// Tasks.
const (
	// TaskTags asks for every label that applies to a text, each with a
	// confidence: multi-label, as a topics model.
	TaskTags Task = "tags"
	// TaskSentiment asks for the one label that fits a text best, with a
	// confidence: single-label, as a sentiment model.
	TaskSentiment Task = "sentiment"
)

// Names of the request field that bounds the answer's length.
const (
	MaxTokensField           = "max_tokens"
	MaxCompletionTokensField = "max_completion_tokens"
)

// Defaults of Options' zero values.
const (
	DefaultMaxTokens       = 4096
	DefaultMaxPromptTokens = 8000
)

// Options are the adapter's settings beyond the spec.
type Options struct {
	// Task is tags (default) or sentiment.
	Task Task
	// Descriptions says in a few words what each label means; the model
	// knows a label by nothing else. Keys must be labels of the spec.
	Descriptions map[string]string
	// Prompt is a text/template for the instructions that open the
	// system prompt, given .Task and .Labels (each with .Name and
	// .Description); empty uses the default. The rules of the answer's
	// form are always appended, so that no prompt can unmake them.
	Prompt string
	// Seed is sent with every request, so that a server that honours it
	// answers the same batch the same way.
	Seed int64
	// MaxTokens bounds one answer (default DefaultMaxTokens). It also
	// bounds the texts per request: each needs about OutputTokensPerText.
	MaxTokens int
	// MaxTokensField names the field MaxTokens is sent in: max_tokens
	// (default; every compatible server reads it) or
	// max_completion_tokens (OpenAI's newer models take only that).
	MaxTokensField string
	// MaxPromptTokens bounds the estimated prompt of one request (default
	// DefaultMaxPromptTokens); a batch over it is split before it is sent.
	MaxPromptTokens int
	// Logprobs asks for the tokens' log probabilities and scores labels
	// by them where the answer carries them.
	Logprobs bool
	// APIVersion is sent as the api-version query parameter (Azure
	// OpenAI's deployment URLs need it).
	APIVersion string
}

// Client calls one model. It is safe for concurrent use.
type Client struct {
	spec    endpoint.Spec
	opts    Options
	labels  *httpx.Labels
	sdk     httpx.SDK
	svc     oai.ChatCompletionService
	model   string
	system  string
	sysCost int // estimated tokens of the system prompt
	perText int // estimated answer tokens per text
	warned  sync.Map
}

var (
	_ endpoint.Client  = (*Client)(nil)
	_ endpoint.Starter = (*Client)(nil)
)

// New checks spec and opts and returns a client. spec.URL is the API's
// base URL, such as https://api.openai.com/v1 or http://vllm:8000/v1;
// spec.RemoteName (default spec.Name) is the model the server serves.
func New(spec endpoint.Spec, opts Options) (*Client, error) {
	base, err := httpx.BaseURL(spec)
	if err != nil {
		return nil, err
	}
	labels, err := httpx.NewLabels(spec)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(spec, &opts); err != nil {
		return nil, err
	}
	sdk, err := httpx.NewSDK(spec)
	if err != nil {
		return nil, err
	}
	c := &Client{spec: spec, opts: opts, labels: labels, sdk: sdk, model: httpx.RemoteName(spec)}
	if c.system, err = systemPrompt(opts, labels.Names()); err != nil {
		return nil, httpx.SpecError("model %q: prompt: %w", spec.Name, err)
	}
	c.sysCost = estimateTokens(c.system)
	c.perText = outputTokensPerText(opts.Task, labels.Len())

	client := *sdk.Client
	if sdk.Host != "" {
		client.Transport = hostTransport{host: sdk.Host, next: transport(client.Transport)}
	}
	reqOpts := []option.RequestOption{
		option.WithBaseURL(base + "/"),
		option.WithHTTPClient(&client),
		// Chorus's call layer retries, with the model's policy, breaker and
		// Retry-After cap; a second layer here would multiply the tries.
		option.WithMaxRetries(0),
		// No key from the SDK (nor from OPENAI_API_KEY, which it reads):
		// credentials come only from the model's auth, in spec.Headers.
		option.WithAPIKey(""),
		option.WithOrganization(""),
		option.WithProject(""),
		option.WithMiddleware(c.middleware),
	}
	if opts.APIVersion != "" {
		reqOpts = append(reqOpts, option.WithQuery("api-version", opts.APIVersion))
	}
	c.svc = oai.NewChatCompletionService(reqOpts...)
	return c, nil
}

func checkOptions(spec endpoint.Spec, o *Options) error {
	switch o.Task {
	case "":
		o.Task = TaskTags
	case TaskTags, TaskSentiment:
	default:
		return httpx.SpecError("model %q: task %q is not %s or %s", spec.Name, o.Task, TaskTags, TaskSentiment)
	}
	for l := range o.Descriptions {
		if !containsLabel(spec.Labels, l) {
			return httpx.SpecError("model %q: description for %q, which is not a label", spec.Name, l)
		}
	}
	if o.MaxTokens < 0 || o.MaxPromptTokens < 0 {
		return httpx.SpecError("model %q: negative token bound", spec.Name)
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.MaxPromptTokens == 0 {
		o.MaxPromptTokens = DefaultMaxPromptTokens
	}
	switch o.MaxTokensField {
	case "":
		o.MaxTokensField = MaxTokensField
	case MaxTokensField, MaxCompletionTokensField:
	default:
		return httpx.SpecError("model %q: max tokens field %q is not %s or %s", spec.Name, o.MaxTokensField, MaxTokensField, MaxCompletionTokensField)
	}
	return nil
}

func containsLabel(labels []string, l string) bool {
	for _, x := range labels {
		if x == l {
			return true
		}
	}
	return false
}

// Start tells the call layer how many texts one request can answer within
// MaxTokens, so that batches are cut to it before they are sent. It asks
// the server nothing.
func (c *Client) Start(context.Context) (endpoint.Info, error) {
	return endpoint.Info{MaxBatch: c.maxTexts()}, nil
}

func (c *Client) maxTexts() int { return max(1, c.opts.MaxTokens/c.perText) }

// Predict asks the model about texts in one request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	if err := c.checkBudget(texts); err != nil {
		return nil, err
	}
	params, err := c.params(texts)
	if err != nil {
		return nil, err
	}
	reqCtx := ctx
	if c.sdk.Timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, c.sdk.Timeout)
		defer cancel()
	}
	var raw []byte
	_, err = c.svc.New(reqCtx, params, option.WithResponseBodyInto(&raw))
	if err != nil {
		return nil, c.requestError(ctx, err, len(texts))
	}
	return c.decode(ctx, raw, len(texts))
}

// checkBudget refuses, before anything is sent, a batch whose prompt or
// answer would be over its bounds, naming how many texts fit: the call
// layer splits there, as it does for a server's own batch-size refusal.
func (c *Client) checkBudget(texts []string) error {
	if len(texts) == 1 {
		// One text cannot be split; the server says whether it fits.
		return nil
	}
	if most := c.maxTexts(); len(texts) > most {
		return tooLarge(most, fmt.Errorf("%d texts need about %d answer tokens, over max_tokens (%d)", len(texts), len(texts)*c.perText, c.opts.MaxTokens))
	}
	total, fit := c.sysCost, 0
	for _, t := range texts {
		total += textTokens(t)
		if total <= c.opts.MaxPromptTokens {
			fit++
		}
	}
	if total > c.opts.MaxPromptTokens {
		return tooLarge(max(fit, 1), fmt.Errorf("%d texts make a prompt of about %d tokens, over max_prompt_tokens (%d)", len(texts), total, c.opts.MaxPromptTokens))
	}
	return nil
}

func tooLarge(n int, err error) error {
	return &errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge, Err: &endpoint.LimitError{Max: n, Err: err}}
}

// middleware sees every request the SDK sends and its response first: it
// adds the spec's headers, classifies a non-2xx answer in Chorus's terms
// (the SDK would read a body of any size into its own error) and bounds a
// 2xx body.
func (c *Client) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	for k, v := range c.sdk.Headers {
		req.Header[k] = v
	}
	resp, err := next(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body := httpx.ErrorSnippet(resp.Body)
		resp.Body.Close()
		return nil, c.statusError(resp.StatusCode, resp.Header, body)
	}
	if err := httpx.BoundBody(resp, c.sdk.MaxBytes); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// requestError classifies what the SDK returned: the middleware's
// classified errors as they are, the rest as transport failures (the SDK
// returns a context's error bare, and wraps a failed body read).
func (c *Client) requestError(ctx context.Context, err error, n int) error {
	var e *errkind.Error
	if errors.As(err, &e) {
		if e.Reason == endpoint.ReasonBatchTooLarge && n > 1 {
			if _, ok := endpoint.BatchLimit(err); !ok {
				return tooLarge(n/2, e.Err)
			}
		}
		return err
	}
	return httpx.TransportError(ctx, err)
}

// hostTransport sets the Host the spec names. It sits below the SDK's own
// check that a request keeps the base URL's origin, which a Host set
// earlier would fail.
type hostTransport struct {
	host string
	next http.RoundTripper
}

func (t hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Host = t.host
	return t.next.RoundTrip(req)
}

func transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return http.DefaultTransport
	}
	return rt
}

// warnOnce reports a condition through spec.Warn once per client.
func (c *Client) warnOnce(key, msg string) {
	if c.spec.Warn == nil {
		return
	}
	if _, done := c.warned.LoadOrStore(key, true); !done {
		c.spec.Warn(msg)
	}
}

// joinNames lists names for a message, bounded.
func joinNames(names []string) string { return httpx.Truncate(strings.Join(names, ", ")) }
