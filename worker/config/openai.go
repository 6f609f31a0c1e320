package config

import (
	"strings"
	"text/template"
)

// OpenAI is the openai protocol's block of a model (models[].openai): an
// LLM behind an OpenAI-compatible chat completions API (OpenAI, Azure
// OpenAI, vLLM, TGI, Ollama) asked, zero-shot, which of the model's labels
// apply to each text. Only a model whose protocol is openai may set it.
// The model's url is the API base (https://api.openai.com/v1,
// http://vllm:8000/v1), remote_name the model the server serves, and the
// key comes from auth (bearer_token_env, or headers_env api-key for
// Azure).
type OpenAI struct {
	// Task is tags (default: every label that applies, each scored) or
	// sentiment (the one label that fits best, as a sentiment model).
	Task string `yaml:"task"`
	// Descriptions says in a few words what each label means: the model
	// knows a tag by its name and this, nothing else. Required for every
	// label of a tags model.
	Descriptions map[string]string `yaml:"descriptions"`
	// Prompt replaces the default instructions: a Go text/template given
	// .Task and .Labels (each .Name and .Description). The rules of the
	// answer's form are always appended.
	Prompt string `yaml:"prompt"`
	// Seed is sent with every request; default 0.
	Seed int `yaml:"seed"`
	// MaxTokens bounds one answer; default 4096. It also bounds the texts
	// in one request (about 60 answer tokens each for tags, 24 for
	// sentiment).
	MaxTokens int `yaml:"max_tokens"`
	// MaxTokensField is the request field MaxTokens goes in: max_tokens
	// (default) or max_completion_tokens (OpenAI's newer models).
	MaxTokensField string `yaml:"max_tokens_field"`
	// MaxPromptTokens bounds one request's prompt, estimated at four bytes
	// a token; a batch over it is split before it is sent. Default 8000.
	MaxPromptTokens int `yaml:"max_prompt_tokens"`
	// Logprobs asks for token log probabilities and scores labels by
	// them where the server returns them; else (default) by the
	// confidence the model writes.
	Logprobs bool `yaml:"logprobs"`
	// APIVersion is sent as the api-version query parameter, for Azure
	// OpenAI's deployment URLs.
	APIVersion string `yaml:"api_version"`
}

// OpenAI tasks and token fields, as the adapter names them.
const (
	OpenAITaskTags      = "tags"
	OpenAITaskSentiment = "sentiment"
)

var openAITokenFields = []string{"max_tokens", "max_completion_tokens"}

// Bounds of the block: a description goes into every request's prompt, a
// token bound past these is a typo.
const (
	maxDescriptionBytes = 512
	maxPromptBytes      = 16 << 10
	maxLLMTokens        = 1 << 20
)

const (
	defaultOpenAIMaxTokens       = 4096
	defaultOpenAIMaxPromptTokens = 8000
)

func (o *OpenAI) isZero() bool {
	return o.Task == "" && len(o.Descriptions) == 0 && o.Prompt == "" && o.Seed == 0 && o.MaxTokens == 0 &&
		o.MaxTokensField == "" && o.MaxPromptTokens == 0 && !o.Logprobs && o.APIVersion == ""
}

func (o *OpenAI) applyDefaults(*Model) {
	setDefault(&o.Task, OpenAITaskTags)
	setDefault(&o.MaxTokens, defaultOpenAIMaxTokens)
	setDefault(&o.MaxTokensField, "max_tokens")
	setDefault(&o.MaxPromptTokens, defaultOpenAIMaxPromptTokens)
}

// check validates the block; p is its field path.
func (o *OpenAI) check(v *validator, p string, m *Model) {
	v.enum(p+".task", o.Task, []string{OpenAITaskTags, OpenAITaskSentiment})
	v.enum(p+".max_tokens_field", o.MaxTokensField, openAITokenFields)
	v.within(p+".max_tokens", o.MaxTokens, maxLLMTokens)
	v.within(p+".max_prompt_tokens", o.MaxPromptTokens, maxLLMTokens)
	labels := map[string]bool{}
	for _, l := range m.Labels {
		labels[l] = true
	}
	for _, l := range sortedKeys(o.Descriptions) {
		d := o.Descriptions[l]
		switch {
		case !labels[l]:
			v.addf(p+".descriptions."+l, "%q is not one of the model's labels (%s)", l, strings.Join(m.Labels, ", "))
		case strings.TrimSpace(d) == "":
			v.addf(p+".descriptions."+l, "empty: say in a few words what the tag means")
		case len(d) > maxDescriptionBytes:
			v.addf(p+".descriptions."+l, "%d bytes, at most %d: a few words are enough", len(d), maxDescriptionBytes)
		}
	}
	if o.Task == OpenAITaskTags {
		var missing []string
		for _, l := range m.Labels {
			if _, ok := o.Descriptions[l]; !ok {
				missing = append(missing, l)
			}
		}
		if len(missing) > 0 {
			v.addf(p+".descriptions", "no description for %s: a zero-shot model knows a tag only by its name and description", strings.Join(missing, ", "))
		}
	}
	if o.Prompt != "" {
		if len(o.Prompt) > maxPromptBytes {
			v.addf(p+".prompt", "%d bytes, at most %d", len(o.Prompt), maxPromptBytes)
		} else if err := checkPromptTemplate(o.Prompt, o.Task); err != nil {
			v.addf(p+".prompt", "not a template that runs on .Task and .Labels (each .Name, .Description): %v", err)
		}
	}
	if strings.ContainsAny(o.APIVersion, "&#?/ ") {
		v.addf(p+".api_version", "%q is not an API version such as 2024-10-21", o.APIVersion)
	}
}

// checkPromptTemplate runs the template on data of the shape the adapter
// gives it, so that a field it names that does not exist fails here.
func checkPromptTemplate(text, task string) error {
	t, err := template.New("prompt").Option("missingkey=error").Parse(text)
	if err != nil {
		return err
	}
	type label struct{ Name, Description string }
	data := struct {
		Task   string
		Labels []label
	}{task, []label{{"example", "an example tag"}}}
	var b strings.Builder
	return t.Execute(&b, data)
}
