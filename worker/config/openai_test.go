package config

import (
	"strings"
	"testing"
)

// openAIYAML is baseYAML with an openai model for acme holding block.
func openAIYAML(block string) string {
	model := `  - name: llm-tags
    protocol: openai
    url: http://127.0.0.1:8500/v1
    remote_name: topics
    labels: [billing, onboarding]
    tenants: [acme]
` + block
	y := strings.Replace(baseYAML, "pipelines:\n", model+"pipelines:\n", 1)
	return strings.Replace(y, "          precedence: true\n", "          precedence: true\n        - model: llm-tags\n", 1)
}

const openAIDescriptions = "    openai:\n      descriptions: {billing: invoices and refunds, onboarding: sign-up and setup}\n"

func TestOpenAIBlock(t *testing.T) {
	c := mustParse(t, openAIYAML(openAIDescriptions), nil)
	m := c.Models[3]
	if m.Name != "llm-tags" || m.Protocol != "openai" {
		t.Fatalf("model 3 is %q (%s)", m.Name, m.Protocol)
	}
	o := m.OpenAI
	if o.Task != "tags" || o.MaxTokens != 4096 || o.MaxPromptTokens != 8000 || o.MaxTokensField != "max_tokens" || o.Logprobs {
		t.Errorf("defaults: %+v", o)
	}
	if o.Descriptions["billing"] != "invoices and refunds" {
		t.Errorf("descriptions %v", o.Descriptions)
	}
	sentiment := strings.Replace(openAIYAML("    openai: {task: sentiment, max_tokens: 300, max_tokens_field: max_completion_tokens, logprobs: true, seed: 7, prompt: \"Judge {{.Task}}: {{range .Labels}}{{.Name}} {{end}}\"}\n"),
		"labels: [billing, onboarding]", "labels: [negative, neutral, positive]", 1)
	o = mustParse(t, sentiment, nil).Models[3].OpenAI
	if o.Task != "sentiment" || o.MaxTokens != 300 || o.MaxTokensField != "max_completion_tokens" || !o.Logprobs || o.Seed != 7 {
		t.Errorf("set: %+v", o)
	}
}

func TestOpenAIBlockErrors(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"no descriptions", openAIYAML(""), "models[3].openai.descriptions", "no description for billing, onboarding"},
		{"one missing", openAIYAML("    openai:\n      descriptions: {billing: invoices}\n"), "models[3].openai.descriptions", "no description for onboarding"},
		{"not a label", openAIYAML("    openai:\n      descriptions: {billing: a, onboarding: b, sso: c}\n"), "models[3].openai.descriptions.sso", "not one of the model's labels"},
		{"empty description", openAIYAML("    openai:\n      descriptions: {billing: \" \", onboarding: b}\n"), "models[3].openai.descriptions.billing", "empty"},
		{"task", openAIYAML("    openai: {task: summary, descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.task", `got "summary", expected one of tags, sentiment`},
		{"token field", openAIYAML("    openai: {max_tokens_field: max_output_tokens, descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.max_tokens_field", "expected one of max_tokens, max_completion_tokens"},
		{"max tokens", openAIYAML("    openai: {max_tokens: -5, descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.max_tokens", "not positive"},
		{"prompt syntax", openAIYAML("    openai: {prompt: \"{{.Labels\", descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.prompt", "not a template"},
		{"prompt field", openAIYAML("    openai: {prompt: \"{{.Tags}}\", descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.prompt", "Tags"},
		{"api version", openAIYAML("    openai: {api_version: \"x&y=1\", descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai.api_version", "not an API version"},
		{"unknown field", openAIYAML("    openai: {temperature: 1, descriptions: {billing: a, onboarding: b}}\n"), "models[3].openai", `unknown field "temperature"`},
		{"block on another protocol", strings.Replace(baseYAML, "    labels: [pricing, billing]\n", "    labels: [pricing, billing]\n    openai: {task: tags}\n", 1), "models[1].openai", "this block is for protocol openai"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), nil)
			wantProblem(t, err, tc.path, tc.msg)
		})
	}
}
