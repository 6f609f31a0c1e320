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
	"net/http"
	"net/url"
	"strings"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
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
	b, err := httpx.NewBase(spec)
	if err != nil {
		return nil, err
	}
	target := b.URL
	if !strings.HasSuffix(target, ":predict") {
		target += "/v1/models/" + url.PathEscape(httpx.RemoteName(spec))
		if spec.Version != "" {
			target += "/versions/" + url.PathEscape(spec.Version)
		}
		target += ":predict"
	}
	return &Client{call: b.Caller, url: target, labels: b.Labels}, nil
}

type predictRequest struct {
	Instances []instance `json:"instances"`
}

type instance struct {
	Content  string `json:"content"`
	MIMEType string `json:"mimeType"`
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
	return httpx.PostJSON(ctx, c.call, c.url, &req, func(b []byte, _ http.Header) (*endpoint.Result, error) {
		return c.decode(b, len(texts))
	})
}

func (c *Client) decode(b []byte, n int) (*endpoint.Result, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return nil, httpx.BadResponse("predict response is not JSON: %q", b[:min(len(b), 64)])
	}
	if !s.Object() {
		return nil, httpx.BadResponse("predict response is not an object: %q", b[:min(len(b), 64)])
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	var version string
	got := 0
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "modelVersionId":
			version, _ = s.String()
		case "predictions":
			if !s.Array() {
				return nil, httpx.BadResponse("predictions is not an array")
			}
			for s.More() {
				if got >= n {
					return nil, httpx.BadResponse("more than %d predictions for %d instances", n, n)
				}
				m.Row(scores[got])
				if err := c.readPrediction(s, m); err != nil {
					return nil, httpx.Wrap(err, "prediction %d", got)
				}
				got++
			}
		}
		s.Skip()
	}
	if err := httpx.CheckCount(got, n); err != nil {
		return nil, err
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	if err := httpx.CheckVersion(version); err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores, Version: version}, nil
}

// readPrediction reads one AutoML classification result into row. Its
// ids are left out: they are int64s written as strings and add nothing
// the display names do not say.
func (c *Client) readPrediction(s *jsonscan.Scanner, m *httpx.Matcher) error {
	if !s.Object() {
		return httpx.BadResponse("not an object: %q", s.Snippet(32))
	}
	// Names and confidences pair up by position and may come in either
	// order, so both are kept raw until the object ends.
	var names, confs []byte
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "displayNames":
			names = s.Raw()
		case "confidences":
			confs = s.Raw()
		}
		s.Skip()
	}
	ns, cs := jsonscan.Valid(names), jsonscan.Valid(confs)
	// Absent or null lists are empty.
	nok, cok := ns.Array(), cs.Array()
	for i := 0; ; i++ {
		nm, cm := nok && ns.More(), cok && cs.More()
		if nm != cm {
			return httpx.BadResponse("displayNames and confidences differ in length")
		}
		if !nm {
			return nil
		}
		label, escaped, ok := ns.RawString()
		if !ok {
			return httpx.BadResponse("displayNames[%d] is not a string: %q", i, ns.Snippet(16))
		}
		if escaped {
			label = []byte(jsonscan.Unescape(label))
		}
		v, ok := cs.Number()
		if !ok {
			return httpx.BadResponse("confidences[%d] is not a number: %q", i, cs.Snippet(16))
		}
		if err := m.Set(label, v); err != nil {
			return err
		}
	}
}
