// Package tei is the endpoint adapter for the sequence-classification
// route of Hugging Face text-embeddings-inference (TEI).
//
// A batch is one POST to {URL}/predict of {"inputs": [["t1"], ["t2"]],
// "raw_scores": false, "truncate": true}: each text is its own one-element
// sequence, so TEI reads the array as a batch rather than as a text pair,
// and scores are probabilities rather than logits. Truncation is asked for
// by default because a text over the model's token limit would otherwise
// be refused; Chorus's own text limits apply before this.
//
// The answer is, per text, a list of {"label", "score"} sorted by score;
// labels are mapped to the spec's order by name (a label left out scores
// 0, a label not configured is dropped unless the spec is strict). The
// version is the X-Model-Version header when a response carries it, else
// what Start read from GET /info (model id and revision).
package tei

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
)

// VersionHeader is the response header read as the model version.
const VersionHeader = "X-Model-Version"

// Options are the adapter's settings beyond the spec. The zero value is
// the default: truncate on the right, read /info at Start.
type Options struct {
	// NoTruncate sends truncate false: a text over the model's token limit
	// is then refused by the server, and only that text fails.
	NoTruncate bool
	// TruncateLeft cuts a long text from its start, keeping its end.
	TruncateLeft bool
	// SkipInfo makes Start read nothing: no batch-size cap, no version and
	// no label check from /info.
	SkipInfo bool
}

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call      *httpx.Caller
	predict   string
	info      string
	labels    *httpx.Labels
	spec      endpoint.Spec
	opts      Options
	direction string
	// warnedDrop is set once Start has named the server's labels that are
	// not configured, so that the first response does not say it again.
	warnedDrop atomic.Bool
	warned     onceSet
}

var (
	_ endpoint.Client  = (*Client)(nil)
	_ endpoint.Starter = (*Client)(nil)
)

// New checks spec and returns a client for it. TEI serves one model per
// server, so spec.RemoteName and spec.Version are not used.
func New(spec endpoint.Spec, opts Options) (*Client, error) {
	c := &Client{spec: spec, opts: opts}
	if opts.TruncateLeft {
		c.direction = "left"
	}
	if warn := spec.Warn; warn != nil {
		spec.Warn = func(msg string) {
			if !c.warnedDrop.Load() {
				warn(msg)
			}
		}
	}
	b, err := httpx.NewBase(spec)
	if err != nil {
		return nil, err
	}
	c.call, c.labels = b.Caller, b.Labels
	c.predict, c.info = b.URL+"/predict", b.URL+"/info"
	return c, nil
}

// predictRequest is TEI's PredictRequest. truncation_direction is left out
// when it is the server's default (right), so that a TEI older than 1.3,
// which has no such field, gets the request it knows.
type predictRequest struct {
	Inputs              [][1]string `json:"inputs"`
	RawScores           bool        `json:"raw_scores"`
	Truncate            bool        `json:"truncate"`
	TruncationDirection string      `json:"truncation_direction,omitempty"`
}

// Predict scores texts with one predict request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	req := predictRequest{Inputs: make([][1]string, len(texts)), Truncate: !c.opts.NoTruncate, TruncationDirection: c.direction}
	for i, t := range texts {
		req.Inputs[i][0] = t
	}
	res, err := httpx.PostJSON(ctx, c.call, c.predict, &req, func(b []byte, h http.Header) (*endpoint.Result, error) {
		return c.decode(b, h, len(texts))
	})
	if err != nil {
		return nil, c.classify(err)
	}
	return res, nil
}

func (c *Client) decode(b []byte, h http.Header, n int) (*endpoint.Result, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return nil, httpx.BadResponse("predict response is not JSON: %q", b[:min(len(b), 64)])
	}
	if !s.Array() {
		return nil, httpx.BadResponse("predict response is not an array: %q", b[:min(len(b), 64)])
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	got := 0
	for s.More() {
		if got >= n {
			return nil, httpx.BadResponse("more than %d predictions for %d inputs", n, n)
		}
		if !s.Array() {
			// A single input's answer is a flat list of objects; a batch's
			// is a list of lists.
			return nil, httpx.BadResponse("prediction %d is not a list: %q", got, s.Snippet(32))
		}
		m.Row(scores[got])
		for s.More() {
			if err := c.readLabel(s, m); err != nil {
				return nil, httpx.Wrap(err, "prediction %d", got)
			}
		}
		got++
	}
	if err := httpx.CheckCount(got, n); err != nil {
		return nil, err
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	v := h.Get(VersionHeader)
	if err := httpx.CheckVersion(v); err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores, Version: v}, nil
}

// readLabel reads one {"label": ..., "score": ...} into row.
func (c *Client) readLabel(s *jsonscan.Scanner, m *httpx.Matcher) error {
	label, score, err := httpx.ReadLabelScore(s)
	if err != nil {
		return err
	}
	return m.Set(label, score)
}
