// Package vertex is the endpoint adapter for Vertex AI online prediction
// (and TF Serving's REST predict API) with the AutoML text classification
// formats.
//
// A batch is one POST of {"instances": [{"content": ..., "mimeType":
// "text/plain"}, ...]} to the spec's URL when it ends in ":predict" (a
// Vertex endpoint), else to {URL}/v1/models/{name}[/versions/{v}]:predict.
// Each prediction lists displayNames with their confidences; they are
// mapped to the spec's labels by name (a label the endpoint leaves out
// scores 0). The model version is the response's modelVersionId.
package vertex

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
)

// MIMEType is the instance type for text classification.
const MIMEType = "text/plain"

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call   *httpx.Caller
	url    string
	labels *httpx.Labels
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
	target := base
	if !strings.HasSuffix(target, ":predict") {
		target += "/v1/models/" + url.PathEscape(httpx.RemoteName(spec))
		if spec.Version != "" {
			target += "/versions/" + url.PathEscape(spec.Version)
		}
		target += ":predict"
	}
	return &Client{call: call, url: target, labels: labels}, nil
}

type predictRequest struct {
	Instances []instance `json:"instances"`
}

type instance struct {
	Content  string `json:"content"`
	MIMEType string `json:"mimeType"`
}

type predictResponse struct {
	Predictions    []prediction `json:"predictions"`
	ModelVersionID string       `json:"modelVersionId"`
}

// prediction leaves out ids: they are int64s written as JSON strings and
// add nothing the display names do not say.
type prediction struct {
	DisplayNames []string  `json:"displayNames"`
	Confidences  []float64 `json:"confidences"`
}

// Predict scores texts with one predict request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	req := predictRequest{Instances: make([]instance, len(texts))}
	for i, t := range texts {
		req.Instances[i] = instance{Content: t, MIMEType: MIMEType}
	}
	body := httpx.NewBuffer()
	if err := body.Encode(&req); err != nil {
		return nil, httpx.SpecError("encode request: %w", err)
	}
	var res *endpoint.Result
	err := c.call.Post(ctx, c.url, body, func(b []byte, _ http.Header) error {
		var err error
		res, err = c.decode(b, len(texts))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Client) decode(b []byte, n int) (*endpoint.Result, error) {
	var resp predictResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, httpx.BadResponse("decode predict response: %w", err)
	}
	if err := httpx.CheckCount(len(resp.Predictions), n); err != nil {
		return nil, err
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	seen := make([]bool, c.labels.Len())
	for i, p := range resp.Predictions {
		if len(p.DisplayNames) != len(p.Confidences) {
			return nil, httpx.BadResponse("prediction %d: %d displayNames, %d confidences", i, len(p.DisplayNames), len(p.Confidences))
		}
		clear(seen)
		for j, name := range p.DisplayNames {
			if err := c.labels.Fill(scores[i], seen, name, p.Confidences[j]); err != nil {
				return nil, err
			}
		}
	}
	return &endpoint.Result{Scores: scores, Version: resp.ModelVersionID}, nil
}
