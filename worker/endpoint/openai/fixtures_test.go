package openai_test

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/openai"
	"github.com/chorusml/chorus/worker/errkind"
)

// fixtureDir holds the recorded and constructed bodies; manifest.json
// records each one's origin.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "openai")

func mustReply(file string) adaptertest.Reply {
	rep, err := adaptertest.FixtureReply(fixtureDir, file)
	if err != nil {
		panic(err)
	}
	return rep
}

type fixtureCase struct {
	name     string
	file     string
	texts    int
	opts     openai.Options
	kind     errkind.Kind
	reason   errkind.Reason
	msg      string
	wait     time.Duration
	limit    int
	scores   [][]float64 // labels billing, onboarding, support
	version  string
	usage    endpoint.Usage
	warnings string
}

func fixtureCases() []fixtureCase {
	bad := func(name, file, msg string, usage endpoint.Usage) fixtureCase {
		return fixtureCase{name: name, file: file, texts: 1, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse, msg: msg, usage: usage}
	}
	return []fixtureCase{
		bad("plain chat answer", "openai-chat-default.json", "not the schema's JSON", endpoint.Usage{PromptTokens: 19, CompletionTokens: 10}),
		bad("logprobs example, prose", "openai-chat-logprobs.json", "not the schema's JSON", endpoint.Usage{PromptTokens: 9, CompletionTokens: 9}),
		bad("refusal", "openai-refusal.json", "refused: I'm sorry", endpoint.Usage{PromptTokens: 81, CompletionTokens: 11}),
		bad("vLLM length, one text", "vllm-chat-length.json", "cut at max_tokens", endpoint.Usage{PromptTokens: 5, CompletionTokens: 100}),
		{name: "vLLM length, two texts", file: "vllm-chat-length.json", texts: 2, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 1,
			usage: endpoint.Usage{PromptTokens: 5, CompletionTokens: 100}},
		{name: "OpenAI structured tags", file: "openai-chat-structured-tags.json", texts: 2,
			scores: [][]float64{{0.92, 0, 0}, {0, 0.81, 0.64}}, version: "gpt-5.4", usage: endpoint.Usage{PromptTokens: 412, CompletionTokens: 41}},
		{name: "vLLM structured tags", file: "vllm-chat-structured-tags.json", texts: 2,
			scores: [][]float64{{0.9, 0, 0}, {0, 0, 0}}, version: "Qwen/Qwen2.5-7B-Instruct", usage: endpoint.Usage{PromptTokens: 356, CompletionTokens: 33}},
		{name: "vLLM structured tags, logprobs asked, none given", file: "vllm-chat-structured-tags.json", texts: 2, opts: openai.Options{Logprobs: true},
			scores: [][]float64{{0.9, 0, 0}, {0, 0, 0}}, version: "Qwen/Qwen2.5-7B-Instruct", usage: endpoint.Usage{PromptTokens: 356, CompletionTokens: 33}, warnings: "carry none"},
		{name: "vLLM logprobs", file: "vllm-chat-structured-logprobs.json", texts: 2, opts: openai.Options{Logprobs: true},
			scores: [][]float64{{0.9, 0, 0}, {0, 0, 0}}, version: "Qwen/Qwen2.5-7B-Instruct", usage: endpoint.Usage{PromptTokens: 356, CompletionTokens: 33}},
		{name: "429 rate limit", file: "openai-error-429-rate-limit.json", texts: 2, kind: errkind.Retryable, reason: endpoint.ReasonRateLimited, wait: time.Second, msg: "Rate limit reached"},
		{name: "429 request too large for TPM", file: "openai-error-429-request-too-large.json", texts: 4, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 2},
		{name: "429 insufficient quota", file: "openai-error-429-insufficient-quota.json", texts: 2, kind: errkind.Misconfigured, reason: endpoint.ReasonUnauthorized, msg: "quota"},
		{name: "400 context length, a batch", file: "openai-error-400-context-length.json", texts: 2, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 1},
		{name: "400 context length, one text", file: "openai-error-400-context-length.json", texts: 1, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, msg: "maximum context length"},
		{name: "vLLM 400 context length", file: "vllm-error-400-context-length.json", texts: 2, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 1},
		{name: "401", file: "openai-error-401-invalid-api-key.json", texts: 2, kind: errkind.Misconfigured, reason: endpoint.ReasonUnauthorized, msg: "Incorrect API key"},
		{name: "404", file: "openai-error-404-model-not-found.json", texts: 2, kind: errkind.Misconfigured, reason: endpoint.ReasonNotFound, msg: "does not exist"},
		{name: "vLLM 404", file: "vllm-error-404-model.json", texts: 2, kind: errkind.Misconfigured, reason: endpoint.ReasonNotFound, msg: "does not exist"},
	}
}

type warnings struct {
	mu  sync.Mutex
	got []string
}

func (w *warnings) warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, msg)
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases() {
		t.Run(tc.name, func(t *testing.T) {
			rep := mustReply(tc.file)
			srv := adaptertest.Serve(t, rep.Status, rep.Header, rep.Body)
			var w warnings
			s := spec(srv.URL)
			s.Warn = w.warn
			c, err := openai.New(s, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var m endpoint.UsageMeter
			ctx := endpoint.WithUsageMeter(adaptertest.Context(t), &m)
			texts := make([]string, tc.texts)
			for i := range texts {
				texts[i] = "text"
			}
			res, err := c.Predict(ctx, texts)
			if got := m.Total(); got != tc.usage {
				t.Errorf("usage %+v, want %+v", got, tc.usage)
			}
			if tc.kind != errkind.Unknown {
				got, _ := errkind.RetryAfterOf(err)
				adaptertest.Check(t, err, adaptertest.Want{Kind: tc.kind, Reason: tc.reason, RetryAfter: got})
				if got != tc.wait {
					t.Errorf("retry after %v, want %v", got, tc.wait)
				}
				if err != nil && !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				if n, _ := endpoint.BatchLimit(err); n != tc.limit {
					t.Errorf("batch limit %d, want %d", n, tc.limit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range tc.scores {
				for j, want := range row {
					// Logprob scores carry the near-zero logprobs of the forced
					// tokens around the value.
					if math.Abs(res.Scores[i][j]-want) > 1e-4 {
						t.Errorf("text %d %s: %v, want %v", i, labels[j], res.Scores[i][j], want)
					}
				}
			}
			if res.Version != tc.version {
				t.Errorf("version %q, want %q", res.Version, tc.version)
			}
			if tc.warnings != "" && (len(w.got) != 1 || !strings.Contains(w.got[0], tc.warnings)) {
				t.Errorf("warnings %q, want one saying %q", w.got, tc.warnings)
			}
		})
	}
}

// The logprob score is the tokens' probability, not the written
// confidence: change the confidence and the score stays.
func TestLogprobsOverConfidence(t *testing.T) {
	rep := mustReply("vllm-chat-structured-logprobs.json")
	body := strings.Replace(rep.Body, `\"confidence\":0.9`, `\"confidence\":0.1`, 1)
	body = strings.Replace(body, `"token":"9"`, `"token":"1"`, 1)
	body = strings.Replace(body, `"bytes":[57]`, `"bytes":[49]`, 1)
	srv := adaptertest.Serve(t, 200, nil, body)
	c, err := openai.New(spec(srv.URL), openai.Options{Logprobs: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Predict(adaptertest.Context(t), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if p := res.Scores[0][0]; math.Abs(p-0.9) > 1e-4 {
		t.Errorf("billing %v, want 0.9 from the logprobs (confidence written: 0.1)", p)
	}
	// Without Options.Logprobs the written confidence counts.
	c, _ = openai.New(spec(srv.URL), openai.Options{})
	res, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
	if err != nil || math.Abs(res.Scores[0][0]-0.1) > 1e-9 {
		t.Errorf("without logprobs: %v, %v; want 0.1", res, err)
	}
}

// Every fixture in the manifest is proven by some case.
func TestEveryFixtureUsed(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range fixtureCases() {
		used[tc.file] = true
	}
	for _, r := range protocol().Misconfigured {
		used[r.Name] = true
	}
	adaptertest.CheckFixtures(t, fixtureDir, used)
}
