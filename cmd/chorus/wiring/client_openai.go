package wiring

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openai"
)

// openAIClient maps models[].openai onto the adapter. The API key is in
// spec.Headers already (auth.bearer_token_env, or auth.headers_env api-key
// for Azure), resolved from the environment by Clients.
func openAIClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	o := m.OpenAI
	return openai.New(spec, openai.Options{
		Task:            openai.Task(o.Task),
		Descriptions:    o.Descriptions,
		Prompt:          o.Prompt,
		Seed:            int64(o.Seed),
		MaxTokens:       o.MaxTokens,
		MaxTokensField:  o.MaxTokensField,
		MaxPromptTokens: o.MaxPromptTokens,
		Logprobs:        o.Logprobs,
		APIVersion:      o.APIVersion,
	})
}
