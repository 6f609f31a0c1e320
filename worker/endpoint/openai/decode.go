package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	oai "github.com/openai/openai-go/v3"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// Finish reasons the adapter reads.
const (
	finishLength        = "length"
	finishContentFilter = "content_filter"
)

// badAnswerTries is how many requests a batch gets whose answer the model
// wrote wrong: one more try, then those jobs count the model as failed.
const badAnswerTries = 2

// badAnswer reports an answer the model wrote that cannot be used.
func badAnswer(format string, args ...any) error {
	return &errkind.Error{Kind: errkind.Retryable, Reason: endpoint.ReasonBadResponse,
		Err: &endpoint.TriesError{Max: badAnswerTries, Err: fmt.Errorf(format, args...)}}
}

// answer is the schema's JSON.
type answer struct {
	Results []result `json:"results"`
}

type result struct {
	Index      *int        `json:"index"`
	Tags       []tagAnswer `json:"tags"`
	Label      *string     `json:"label"`
	Confidence *float64    `json:"confidence"`
}

type tagAnswer struct {
	Tag        string   `json:"tag"`
	Confidence *float64 `json:"confidence"`
}

func (c *Client) decode(ctx context.Context, raw []byte, n int) (*endpoint.Result, error) {
	var cc oai.ChatCompletion
	if err := json.Unmarshal(raw, &cc); err != nil {
		return nil, httpx.BadResponse("not a chat completion: %q", raw[:min(len(raw), 64)])
	}
	// Billed whether or not the answer can be used.
	endpoint.ReportUsage(ctx, endpoint.Usage{PromptTokens: cc.Usage.PromptTokens, CompletionTokens: cc.Usage.CompletionTokens})
	if len(cc.Choices) == 0 {
		return nil, httpx.BadResponse("chat completion without choices: %q", raw[:min(len(raw), 64)])
	}
	ch := cc.Choices[0]
	if ch.Message.Refusal != "" {
		return nil, badAnswer("the model refused: %s", httpx.Truncate(ch.Message.Refusal))
	}
	switch ch.FinishReason {
	case finishLength:
		if n > 1 {
			// The answer for all the texts did not fit: fewer will.
			return nil, tooLarge(n/2, fmt.Errorf("answer for %d texts cut at max_tokens (%d)", n, c.opts.MaxTokens))
		}
		return nil, badAnswer("answer cut at max_tokens (%d): raise max_tokens", c.opts.MaxTokens)
	case finishContentFilter:
		return nil, badAnswer("answer withheld by the server's content filter")
	}
	if err := httpx.CheckVersion(cc.Model); err != nil {
		return nil, err
	}
	scores, err := c.scores(ch, n)
	if err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores, Version: cc.Model}, nil
}

// scores checks the answer against the request and fills a row per text.
func (c *Client) scores(ch oai.ChatCompletionChoice, n int) ([][]float64, error) {
	content := ch.Message.Content
	var a answer
	dec := json.NewDecoder(bytes.NewReader([]byte(content)))
	if err := dec.Decode(&a); err != nil {
		return nil, badAnswer("answer is not the schema's JSON: %q", httpx.Truncate(content))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badAnswer("answer has more than one JSON value: %q", httpx.Truncate(content))
	}
	if len(a.Results) != n {
		return nil, badAnswer("%d results for %d texts", len(a.Results), n)
	}
	probs := c.logprobs(ch, content)
	rows, _ := httpx.NewScores(n, c.labels.Len())
	seen := make([]bool, n)
	for k, r := range a.Results {
		if r.Index == nil || *r.Index < 0 || *r.Index >= n {
			return nil, badAnswer("result %d: index missing or outside 0..%d", k, n-1)
		}
		i := *r.Index
		if seen[i] {
			return nil, badAnswer("index %d twice", i)
		}
		seen[i] = true
		var err error
		if c.opts.Task == TaskSentiment {
			err = c.sentimentRow(rows[i], r, probs)
		} else {
			err = c.tagRow(rows[i], r, probs)
		}
		if err != nil {
			return nil, httpx.Wrap(err, "text %d", i)
		}
	}
	return rows, nil
}

func (c *Client) tagRow(row []float64, r result, probs *valueProbs) error {
	if r.Tags == nil {
		return badAnswer("no tags list")
	}
	for _, t := range r.Tags {
		j := c.labels.Index([]byte(t.Tag))
		if j < 0 {
			return badAnswer("tag %q is not one of %s", httpx.Truncate(t.Tag), joinNames(c.labels.Names()))
		}
		p, err := c.score(t.Confidence, probs)
		if err != nil {
			return err
		}
		// A tag given twice keeps its best score: the answer says no
		// more than that it applies.
		row[j] = max(row[j], p)
	}
	return nil
}

func (c *Client) sentimentRow(row []float64, r result, probs *valueProbs) error {
	if r.Label == nil {
		return badAnswer("no label")
	}
	j := c.labels.Index([]byte(*r.Label))
	if j < 0 {
		return badAnswer("label %q is not one of %s", httpx.Truncate(*r.Label), joinNames(c.labels.Names()))
	}
	p, err := c.score(r.Confidence, probs)
	if err != nil {
		return err
	}
	// The labels not chosen share what the chosen one leaves, so that a
	// row is a distribution, as a sentiment model's is.
	rest := 0.0
	if len(row) > 1 {
		rest = (1 - p) / float64(len(row)-1)
	}
	for k := range row {
		row[k] = rest
	}
	row[j] = p
	return nil
}

// score is a label's probability: from the logprobs of the tokens that
// wrote it where they are known, else the confidence the model wrote.
func (c *Client) score(confidence *float64, probs *valueProbs) (float64, error) {
	if p, ok := probs.next(); ok {
		return p, nil
	}
	if confidence == nil {
		return 0, badAnswer("no confidence")
	}
	p, err := httpx.Prob(*confidence)
	if err != nil {
		return 0, badAnswer("confidence %v is not a probability", *confidence)
	}
	return p, nil
}

// valueProbs hands out, in the order the answer writes them, the
// probability of each tag or label value, or nothing when the answer's
// logprobs cannot be read (none asked for, none given, or tokens that do
// not spell the content).
type valueProbs struct {
	p []float64
	i int
}

func (v *valueProbs) next() (float64, bool) {
	if v == nil || v.i >= len(v.p) {
		return 0, false
	}
	p := v.p[v.i]
	v.i++
	return p, true
}

func (c *Client) logprobs(ch oai.ChatCompletionChoice, content string) *valueProbs {
	if !c.opts.Logprobs {
		return nil
	}
	toks := ch.Logprobs.Content
	if len(toks) == 0 {
		c.warnOnce("no logprobs", "logprobs is set but the server's answers carry none; scores are the confidences the model writes")
		return nil
	}
	// Token i spans content[start[i]:start[i+1]].
	start := make([]int, len(toks)+1)
	var spelled bytes.Buffer
	for i, t := range toks {
		if len(t.Bytes) > 0 {
			for _, b := range t.Bytes {
				spelled.WriteByte(byte(b))
			}
		} else {
			spelled.WriteString(t.Token)
		}
		start[i+1] = spelled.Len()
	}
	if spelled.String() != content {
		c.warnOnce("logprobs mismatch", "the answer's logprob tokens do not spell its content; scores are the confidences the model writes")
		return nil
	}
	spans, ok := valueSpans(content)
	if !ok {
		return nil
	}
	out := &valueProbs{p: make([]float64, len(spans))}
	for k, s := range spans {
		sum := 0.0
		for i, t := range toks {
			if start[i] < s[1] && start[i+1] > s[0] {
				sum += t.Logprob
			}
		}
		out.p[k] = min(max(math.Exp(sum), 0), 1)
	}
	return out
}

// valueSpans finds, in the order they are written, the byte span (quotes
// included) of every string value of a "tag" or "label" key.
func valueSpans(content string) ([][2]int, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(content)))
	var stack []frame
	var spans [][2]int
	key := ""
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return spans, true
		}
		if err != nil {
			return nil, false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:top]
				markValueDone(stack)
				continue
			}
			key, _ = tok.(string)
			stack[top].wantKey = false
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack, key = append(stack, frame{object: true, wantKey: true}), ""
			case '[':
				stack, key = append(stack, frame{}), ""
			default:
				stack = stack[:top]
				markValueDone(stack)
			}
		case string:
			if key == "tag" || key == "label" {
				from, to := int(before), int(dec.InputOffset())
				if q := strings.IndexByte(content[from:to], '"'); q >= 0 {
					spans = append(spans, [2]int{from + q, to})
				}
			}
			markValueDone(stack)
		default:
			markValueDone(stack)
		}
	}
}

// frame is one open JSON container while valueSpans reads.
type frame struct{ object, wantKey bool }

// markValueDone notes that the object on top of stack has its value and
// wants the next key.
func markValueDone(stack []frame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].wantKey = true
	}
}
