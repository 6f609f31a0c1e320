package modelserver

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The reference server's chat completions stand in for an LLM asked for
// zero-shot tags the way Chorus's openai adapter asks: the "model" names a
// reference model, the texts are read from the last user message as the
// adapter writes them ({"texts": [{"index", "text"}]}), and the answer
// honours the request's json_schema (tags or one label per text, from the
// schema's enum). A tag is given when the reference model scores it at
// least 0.5, with that score as its confidence; sentiment gives the
// enum label the model scores highest. Nothing is generated: the point is
// a local server that speaks the wire, bills usage and cuts answers at
// max_tokens, not a language model. Token counts are estimates (four
// bytes a token), as there is no tokenizer.

// tagThreshold is the score at which a reference model's label is a tag.
const tagThreshold = 0.5

// chatBytesPerToken is the reference server's token estimate.
const chatBytesPerToken = 4

func (s *Server) routeOpenAI() {
	s.mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
}

// openAIError writes an OpenAI-compatible error body, in the shape vLLM
// and OpenAI write today: {"error": {"message", "type", "param", "code"}}.
func openAIError(w http.ResponseWriter, status int, msg string) {
	typ, code := "invalid_request_error", any(nil)
	switch {
	case status == http.StatusTooManyRequests:
		typ, code = "requests", "rate_limit_exceeded"
	case status == http.StatusNotFound:
		typ, code = "invalid_request_error", "model_not_found"
	case status >= 500:
		typ = "server_error"
	}
	writeJSON(w, status, marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}}))
}

// openAITooLarge answers a batch over MaxBatch as a prompt over the
// model's context, the refusal an LLM server gives a request too large.
func openAITooLarge(w http.ResponseWriter, _ *model, n, limit int) {
	writeJSON(w, http.StatusBadRequest, marshal(map[string]any{"error": map[string]any{
		"message": fmt.Sprintf("This model's maximum context length is %d texts. However, your messages resulted in %d texts. Please reduce the length of the messages.", limit, n),
		"type":    "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}))
}

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	Logprobs            bool `json:"logprobs"`
	ResponseFormat      struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// chatTexts is the user message the openai adapter writes.
type chatTexts struct {
	Texts []struct {
		Index int    `json:"index"`
		Text  string `json:"text"`
	} `json:"texts"`
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if status, err := decode(w, r, &req); err != nil {
		openAIError(w, status, "invalid chat completion request: "+err.Error())
		return
	}
	m, ok := s.models[req.Model]
	if !ok {
		openAIError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	var user string
	promptBytes := 0
	for _, msg := range req.Messages {
		var text string
		if json.Unmarshal(msg.Content, &text) != nil {
			openAIError(w, http.StatusBadRequest, "the reference server reads string message contents only")
			return
		}
		promptBytes += len(text)
		if msg.Role == "user" {
			user = text
		}
	}
	var in chatTexts
	if err := json.Unmarshal([]byte(user), &in); err != nil || len(in.Texts) == 0 {
		openAIError(w, http.StatusBadRequest, `the reference server reads the texts from the last user message as Chorus writes it: {"texts": [{"index": 0, "text": "..."}]}`)
		return
	}
	if req.ResponseFormat.Type != "json_schema" {
		openAIError(w, http.StatusBadRequest, "the reference server answers response_format json_schema only")
		return
	}
	task, enum := schemaTask(req.ResponseFormat.JSONSchema.Schema)
	if task == "" {
		openAIError(w, http.StatusBadRequest, "response_format.json_schema is not a Chorus answer schema (results[].tags[].tag or results[].label enums)")
		return
	}
	texts := make([]string, len(in.Texts))
	for i, t := range in.Texts {
		texts[i] = t.Text
	}
	scores, f, ok := s.score(w, r, m, texts, refusals{fail: openAIError, tooLarge: openAITooLarge})
	if !ok {
		return
	}
	if f.Garbage {
		writeGarbage(w)
		return
	}
	var c chatContent
	labels := m.labels
	if f.UnknownLabel {
		labels = append([]string{"LABEL_0"}, labels[1:]...)
	}
	c.write(`{"results":[`, 0)
	for i, row := range scores {
		if i > 0 {
			c.write(",", 0)
		}
		index := i
		if i < len(in.Texts) {
			index = in.Texts[i].Index
		}
		if task == "tags" {
			c.tags(index, row, labels, enum)
		} else {
			c.label(index, row, labels, enum)
		}
	}
	c.write("]}", 0)

	content, pieces, finish := c.b.String(), c.pieces, "stop"
	limit := 0
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	}
	if limit > 0 && len(content) > limit*chatBytesPerToken {
		content, pieces, finish = content[:limit*chatBytesPerToken], nil, "length"
	}
	choice := map[string]any{
		"index": 0, "finish_reason": finish, "logprobs": nil,
		"message": map[string]any{"role": "assistant", "content": content, "refusal": nil},
	}
	if req.Logprobs && pieces != nil {
		toks := make([]map[string]any, len(pieces))
		for i, p := range pieces {
			toks[i] = map[string]any{"token": p.text, "logprob": p.logprob, "bytes": []byte(p.text), "top_logprobs": []any{}}
		}
		choice["logprobs"] = map[string]any{"content": toks}
	}
	prompt := (promptBytes + chatBytesPerToken - 1) / chatBytesPerToken
	completion := (len(content) + chatBytesPerToken - 1) / chatBytesPerToken
	writeJSON(w, http.StatusOK, marshal(map[string]any{
		"id": "chatcmpl-chorus-" + strconv.FormatInt(m.requests.Load(), 10), "object": "chat.completion",
		"created": time.Now().Unix(), "model": m.name + "@" + m.version,
		"choices": []any{choice},
		"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	}))
}

// schemaTask reads what a Chorus answer schema asks for: "tags" or
// "label", and its enum.
func schemaTask(schema map[string]any) (task string, enum []string) {
	get := func(v any, path ...string) any {
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	item := get(schema, "properties", "results", "items", "properties")
	strs := func(v any) []string {
		list, _ := v.([]any)
		var out []string
		for _, e := range list {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if e := get(item, "tags", "items", "properties", "tag", "enum"); e != nil {
		return "tags", strs(e)
	}
	if e := get(item, "label", "enum"); e != nil {
		return "sentiment", strs(e)
	}
	return "", nil
}

// chatContent writes an answer with the log probability of each piece, so
// that logprobs spell the content and put the label's probability on the
// piece that names it.
type chatContent struct {
	b      strings.Builder
	pieces []chatPiece
}

type chatPiece struct {
	text    string
	logprob float64
}

func (c *chatContent) write(s string, logprob float64) {
	c.b.WriteString(s)
	c.pieces = append(c.pieces, chatPiece{s, logprob})
}

func (c *chatContent) tags(index int, row []float64, labels, enum []string) {
	c.write(fmt.Sprintf(`{"index":%d,"tags":[`, index), 0)
	first := true
	for j, l := range labels {
		p := row[j]
		if p < tagThreshold || !(slices.Contains(enum, l) || l == "LABEL_0") {
			continue
		}
		if !first {
			c.write(",", 0)
		}
		first = false
		c.write(`{"tag":"`, 0)
		c.write(l, math.Log(min(p, 1)))
		c.write(`","confidence":`+confidence(p)+`}`, 0)
	}
	c.write("]}", 0)
}

func (c *chatContent) label(index int, row []float64, labels, enum []string) {
	best := -1
	for j, l := range labels {
		if (slices.Contains(enum, l) || l == "LABEL_0") && (best < 0 || row[j] > row[best]) {
			best = j
		}
	}
	if best < 0 {
		// No enum label is one this model knows: the first, unsure.
		c.write(fmt.Sprintf(`{"index":%d,"label":"`, index), 0)
		if len(enum) > 0 {
			c.write(enum[0], math.Log(0.5))
		}
		c.write(`","confidence":0.5}`, 0)
		return
	}
	p := row[best]
	c.write(fmt.Sprintf(`{"index":%d,"label":"`, index), 0)
	c.write(labels[best], math.Log(max(min(p, 1), 1e-9)))
	c.write(`","confidence":`+confidence(p)+`}`, 0)
}

func confidence(p float64) string {
	if math.IsNaN(p) {
		return `"NaN"`
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}
