package sagemaker

import (
	"bytes"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
)

// fastTextSlack absorbs fastText's smoothing: BlazingText reports a
// label's probability as exp(log(p + 1e-5)), so a sure prediction comes
// back as 1.00001 (a published answer reads 1.0000100135803223). Up to
// this much over 1 is read as 1.
const fastTextSlack = 2e-5

// decode reads a response body in the configured form into scores in
// the spec's label order.
func (c *Client) decode(b []byte, n int) (*endpoint.Result, error) {
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	var got int
	var err error
	switch c.opts.Response {
	case ResponseBlazingText:
		got, err = c.readBlazingText(b, scores, m)
	case ResponsePredictions:
		got, err = c.readPredictions(b, scores, m)
	default:
		got, err = c.readLabelScores(b, scores, m)
	}
	if err != nil {
		return nil, err
	}
	if err := httpx.CheckCount(got, n); err != nil {
		return nil, err
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores}, nil
}

func notJSON(b []byte) error {
	return httpx.BadResponse("response is not JSON: %q", b[:min(len(b), 64)])
}

// readLabelScores reads the Hugging Face toolkit's answer: a list with,
// per text, one {label, score} (the pipeline's top label) or a list of
// them (with parameters.top_k).
func (c *Client) readLabelScores(b []byte, scores [][]float64, m *httpx.Matcher) (int, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return 0, notJSON(b)
	}
	if !s.Array() {
		return 0, httpx.BadResponse("response is not a list: %q", s.Snippet(32))
	}
	got := 0
	for s.More() {
		if got >= len(scores) {
			return 0, httpx.CheckCount(got+1, len(scores))
		}
		m.Row(scores[got])
		if err := c.readLabelScoreList(s, m); err != nil {
			return 0, httpx.Wrap(err, "prediction %d", got)
		}
		got++
	}
	return got, nil
}

// readLabelScoreList reads one text's answer: an object or a list of
// objects.
func (c *Client) readLabelScoreList(s *jsonscan.Scanner, m *httpx.Matcher) error {
	if s.Peek() == '{' {
		return c.readLabelScore(s, m)
	}
	if !s.Array() {
		return httpx.BadResponse("not a {label, score} object or a list of them: %q", s.Snippet(32))
	}
	for s.More() {
		if err := c.readLabelScore(s, m); err != nil {
			return err
		}
	}
	return nil
}

// readLabelScore reads one {"label": ..., "score": ...}.
func (c *Client) readLabelScore(s *jsonscan.Scanner, m *httpx.Matcher) error {
	label, score, err := httpx.ReadLabelScore(s)
	if err != nil {
		return err
	}
	return c.set(m, label, score)
}

// set records one server label's score under its configured name.
func (c *Client) set(m *httpx.Matcher, label []byte, score float64) error {
	label = bytes.TrimPrefix(label, c.prefix)
	if to, ok := c.rename[string(label)]; ok {
		label = []byte(to)
	}
	return m.Set(label, score)
}

// readBlazingText reads BlazingText's answer: per text {"prob": [...],
// "label": [...]}, either in a JSON list (asked in JSON) or one per line
// (asked in JSON Lines). Either form is read whatever was asked: the
// first byte tells them apart.
func (c *Client) readBlazingText(b []byte, scores [][]float64, m *httpx.Matcher) (int, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		s, ok := jsonscan.New(trimmed)
		if !ok {
			return 0, notJSON(b)
		}
		s.Array()
		got := 0
		for s.More() {
			if got >= len(scores) {
				return 0, httpx.CheckCount(got+1, len(scores))
			}
			m.Row(scores[got])
			if err := c.readProbLabel(s, m); err != nil {
				return 0, httpx.Wrap(err, "prediction %d", got)
			}
			got++
		}
		return got, nil
	}
	got := 0
	for line := range bytes.SplitSeq(trimmed, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if got >= len(scores) {
			return 0, httpx.CheckCount(got+1, len(scores))
		}
		s, ok := jsonscan.New(line)
		if !ok {
			return 0, httpx.BadResponse("line %d is not JSON: %q", got+1, line[:min(len(line), 64)])
		}
		m.Row(scores[got])
		if err := c.readProbLabel(s, m); err != nil {
			return 0, httpx.Wrap(err, "line %d", got+1)
		}
		got++
	}
	if got == 0 {
		return 0, notJSON(b)
	}
	return got, nil
}

// readProbLabel reads one {"prob": [...], "label": [...]}; the two lists
// pair up by position, in either member order.
func (c *Client) readProbLabel(s *jsonscan.Scanner, m *httpx.Matcher) error {
	if !s.Object() {
		return httpx.BadResponse("not a {prob, label} object: %q", s.Snippet(32))
	}
	var probs, labels []byte
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "prob":
			probs = s.Raw()
		case "label":
			labels = s.Raw()
		}
		s.Skip()
	}
	if probs == nil || labels == nil {
		return httpx.BadResponse("want prob and label lists")
	}
	ps, ls := jsonscan.Valid(probs), jsonscan.Valid(labels)
	if !ps.Array() || !ls.Array() {
		return httpx.BadResponse("prob and label are not lists")
	}
	for {
		morePs, moreLs := ps.More(), ls.More()
		if morePs != moreLs {
			return httpx.BadResponse("prob and label lists of different lengths")
		}
		if !morePs {
			return nil
		}
		p, ok := ps.Number()
		if !ok {
			return httpx.BadResponse("prob %q is not a number", ps.Snippet(16))
		}
		label, escaped, ok := ls.RawString()
		if !ok {
			return httpx.BadResponse("label %q is not a string", ls.Snippet(16))
		}
		if escaped {
			label = []byte(jsonscan.Unescape(label))
		}
		if p > 1 && p <= 1+fastTextSlack {
			p = 1
		}
		if err := c.set(m, label, p); err != nil {
			return err
		}
	}
}

// readPredictions reads {"predictions": [...]}: per text a list of
// probabilities in the spec's label order (TensorFlow Serving's row
// form), or {label, score} objects.
func (c *Client) readPredictions(b []byte, scores [][]float64, m *httpx.Matcher) (int, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return 0, notJSON(b)
	}
	if !s.Object() {
		return 0, httpx.BadResponse("response is not a {\"predictions\": [...]} object: %q", s.Snippet(32))
	}
	got, found := 0, false
	for {
		k, more := s.Key()
		if !more {
			break
		}
		if string(k) != "predictions" {
			s.Skip()
			continue
		}
		found = true
		if !s.Array() {
			return 0, httpx.BadResponse("predictions is not a list: %q", s.Snippet(32))
		}
		for s.More() {
			if got >= len(scores) {
				return 0, httpx.CheckCount(got+1, len(scores))
			}
			m.Row(scores[got])
			if err := c.readPrediction(s, scores[got], m); err != nil {
				return 0, httpx.Wrap(err, "prediction %d", got)
			}
			got++
		}
	}
	if !found {
		return 0, httpx.BadResponse("response has no predictions: %q", b[:min(len(b), 64)])
	}
	return got, nil
}

// readPrediction reads one prediction of the predictions form.
func (c *Client) readPrediction(s *jsonscan.Scanner, row []float64, m *httpx.Matcher) error {
	if s.Peek() == '{' {
		return c.readLabelScore(s, m)
	}
	raw := s.Raw()
	p := jsonscan.Valid(raw)
	if !p.Array() {
		return httpx.BadResponse("not a list of probabilities or {label, score} objects: %q", p.Snippet(32))
	}
	if p.Peek() == '{' {
		p = jsonscan.Valid(raw)
		return c.readLabelScoreList(&p, m)
	}
	j := 0
	for p.More() {
		v, ok := p.Number()
		if !ok {
			return httpx.BadResponse("probability %q is not a number", p.Snippet(16))
		}
		if j >= len(row) {
			return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: a prediction has more probabilities than the %d configured labels: list every label the model scores, in its order", c.spec.Name, len(row))
		}
		prob, err := httpx.Prob(v)
		if err != nil {
			return err
		}
		row[j] = prob
		j++
	}
	if j != len(row) {
		return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: a prediction has %d probabilities for %d configured labels: list every label the model scores, in its order", c.spec.Name, j, len(row))
	}
	return nil
}
