package modelserver_test

import (
	"math"
	"strings"
	"testing"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openai"
	"github.com/chorusml/chorus/worker/errkind"
)

// The openai adapter against the server's chat completions: tags are the
// labels the reference model scores at 0.5 or more, sentiment its best
// label, from the confidences or, asked for, the logprobs; usage billed.
func TestChatCompletionsThroughAdapter(t *testing.T) {
	texts := []string{"Support was quick but the app keeps crashing.", "ok", `"quoted" & <tagged> ünïcödé`}
	descriptions := map[string]string{"negative": "unhappy", "neutral": "neither", "positive": "happy"}
	for _, tc := range []struct {
		name string
		opts openai.Options
	}{
		{"tags", openai.Options{Descriptions: descriptions}},
		{"tags from logprobs", openai.Options{Descriptions: descriptions, Logprobs: true}},
		{"sentiment", openai.Options{Task: openai.TaskSentiment}},
		{"sentiment from logprobs", openai.Options{Task: openai.TaskSentiment, Logprobs: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, hs := newServer(t, modelserver.Options{})
			var warned []string
			spec := endpoint.Spec{Name: "llm", RemoteName: "sentiment", URL: hs.URL + "/v1", Labels: labels, Warn: func(m string) { warned = append(warned, m) }}
			c, err := openai.New(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var m endpoint.UsageMeter
			res, err := c.Predict(endpoint.WithUsageMeter(ctx(t), &m), texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				w := want(text, len(labels))
				if tc.opts.Task != openai.TaskSentiment {
					for j := range w {
						if w[j] < 0.5 {
							w[j] = 0
						}
					}
				}
				for j := range w {
					if math.Abs(res.Scores[i][j]-w[j]) > 1e-6 {
						t.Errorf("text %d: scores %v, want %v", i, res.Scores[i], w)
						break
					}
				}
			}
			if res.Version != "sentiment@v1" {
				t.Errorf("version %q", res.Version)
			}
			if u := m.Total(); u.PromptTokens <= 0 || u.CompletionTokens <= 0 {
				t.Errorf("usage %+v", u)
			}
			if len(warned) > 0 {
				t.Errorf("warnings %q", warned)
			}
			if st := stats(s); st.Batches != 1 || st.Items != int64(len(texts)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestChatCompletionsRefusals(t *testing.T) {
	tests := []struct {
		name   string
		opts   modelserver.Options
		model  string
		max    int
		texts  int
		fault  modelserver.Fault
		kind   errkind.Kind
		reason errkind.Reason
	}{
		{name: "unknown model", model: "gpt-4o", texts: 2, kind: errkind.Misconfigured, reason: endpoint.ReasonNotFound},
		{name: "cut at max_tokens, two texts", max: 5, texts: 2, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge},
		{name: "cut at max_tokens, one text", max: 5, texts: 1, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse},
		{name: "over MaxBatch", opts: modelserver.Options{MaxBatch: 1}, texts: 2, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge},
		{name: "429", fault: modelserver.Fault{Status: 429}, texts: 2, kind: errkind.Retryable, reason: endpoint.ReasonRateLimited},
		{name: "wrong count", fault: modelserver.Fault{WrongCount: true}, texts: 2, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse},
		{name: "unknown tag", fault: modelserver.Fault{UnknownLabel: true}, texts: 3, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse},
		{name: "garbage", fault: modelserver.Fault{Garbage: true}, texts: 2, kind: errkind.Retryable, reason: endpoint.ReasonBadResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, hs := newServer(t, tc.opts)
			if err := s.SetFault("sentiment", tc.fault); err != nil {
				t.Fatal(err)
			}
			model := tc.model
			if model == "" {
				model = "sentiment"
			}
			c, err := openai.New(endpoint.Spec{Name: "llm", RemoteName: model, URL: hs.URL + "/v1", Labels: labels},
				openai.Options{Descriptions: map[string]string{"negative": "a", "neutral": "b", "positive": "c"}, MaxTokens: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			texts := make([]string, tc.texts)
			for i := range texts {
				texts[i] = strings.Repeat("x", i)
			}
			_, err = c.Predict(ctx(t), texts)
			if errkind.KindOf(err) != tc.kind || errkind.ReasonOf(err) != tc.reason {
				t.Errorf("%v is %v %q, want %v %q", err, errkind.KindOf(err), errkind.ReasonOf(err), tc.kind, tc.reason)
			}
		})
	}
}
