// Package tei is the endpoint adapter for the sequence-classification
// route of Hugging Face text-embeddings-inference.
//
// A batch is one POST to {URL}/predict of {"inputs": [["t1"], ["t2"]],
// "raw_scores": false, "truncate": true}: each text is its own one-element
// sequence, so TEI reads the array as a batch rather than as a text pair,
// and scores are probabilities rather than logits. Truncation is asked for
// because a text over the model's token limit would otherwise fail its
// whole batch with 413; Chorus's own text limits apply before this.
//
// The answer is, per text, a list of {"label", "score"} sorted by score;
// labels are mapped to the spec's order by name (a label left out scores
// 0). TEI reports no model version with a prediction (its /info route has
// model_sha, but that is a second call), so Version is empty unless the
// response carries the X-Model-Version header, which the Chorus reference
// server sets.
package tei

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
)

// VersionHeader is the response header read as the model version.
const VersionHeader = "X-Model-Version"

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call   *httpx.Caller
	url    string
	labels *httpx.Labels
}

var _ endpoint.Client = (*Client)(nil)

// New checks spec and returns a client for it. TEI serves one model per
// server, so spec.RemoteName and spec.Version are not used.
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
	return &Client{call: call, url: base + "/predict", labels: labels}, nil
}

type predictRequest struct {
	Inputs    [][1]string `json:"inputs"`
	RawScores bool        `json:"raw_scores"`
	Truncate  bool        `json:"truncate"`
}

type labelScore struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Predict scores texts with one predict request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	req := predictRequest{Inputs: make([][1]string, len(texts)), Truncate: true}
	for i, t := range texts {
		req.Inputs[i][0] = t
	}
	body := httpx.NewBuffer()
	if err := body.Encode(&req); err != nil {
		return nil, httpx.SpecError("encode request: %w", err)
	}
	var res *endpoint.Result
	err := c.call.Post(ctx, c.url, body, func(b []byte, h http.Header) error {
		var err error
		res, err = c.decode(b, h, len(texts))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *Client) decode(b []byte, h http.Header, n int) (*endpoint.Result, error) {
	var resp [][]labelScore
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, httpx.BadResponse("decode predict response: %w", err)
	}
	if err := httpx.CheckCount(len(resp), n); err != nil {
		return nil, err
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	seen := make([]bool, c.labels.Len())
	for i, preds := range resp {
		clear(seen)
		for _, p := range preds {
			if err := c.labels.Fill(scores[i], seen, p.Label, p.Score); err != nil {
				return nil, err
			}
		}
	}
	return &endpoint.Result{Scores: scores, Version: h.Get(VersionHeader)}, nil
}
