package config

import (
	"strings"
	"testing"
)

// oiYAML is baseYAML with an open_inference block on its first model.
func oiYAML(block string) string {
	return strings.Replace(baseYAML, "    labels: [negative, positive]\n",
		"    labels: [negative, positive]\n    open_inference:\n"+block, 1)
}

func TestOpenInferenceDefaults(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  OpenInference
	}{
		{"no block: names from metadata", "", OpenInference{
			Input:  OpenInferenceInput{Datatype: "BYTES"},
			Output: OpenInferenceOutput{Format: "probabilities"},
		}},
		{"logits default to softmax, shape spelled one way", "      input: {name: TEXT, shape: \"[N, 1]\"}\n      output: {name: logits, format: logits}\n", OpenInference{
			Input:  OpenInferenceInput{Name: "TEXT", Datatype: "BYTES", Shape: "[N,1]"},
			Output: OpenInferenceOutput{Name: "logits", Format: "logits", Activation: "softmax"},
		}},
		{"classification keeps its K", "      output: {name: OUTPUT0, format: classification, classification: 2}\n", OpenInference{
			Input:  OpenInferenceInput{Datatype: "BYTES"},
			Output: OpenInferenceOutput{Name: "OUTPUT0", Format: "classification", Classification: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := baseYAML
			if tc.block != "" {
				y = oiYAML(tc.block)
			}
			c := mustParse(t, y, nil)
			if got := c.Models[0].OpenInference; got != tc.want {
				t.Errorf("open_inference = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOpenInferenceRules(t *testing.T) {
	const p = "models[0].open_inference"
	tests := []struct {
		name   string
		mutate func(o *OpenInference)
		path   string
		msg    string
	}{
		{"datatype", func(o *OpenInference) { o.Input.Datatype = "STRING" },
			p + ".input.datatype", `got "STRING", expected one of BYTES`},
		{"shape", func(o *OpenInference) { o.Input.Shape = "[1,N]" },
			p + ".input.shape", `got "[1,N]", expected one of [N], [N,1]`},
		{"format", func(o *OpenInference) { o.Output.Format = "softmax" },
			p + ".output.format", `got "softmax", expected one of probabilities, logits, class_index, hf_probabilities, classification`},
		{"format missing", func(o *OpenInference) { o.Output.Format = "" },
			p + ".output.format", "required, one of probabilities"},
		{"activation value", func(o *OpenInference) { o.Output.Format, o.Output.Activation = "logits", "relu" },
			p + ".output.activation", `got "relu", expected one of softmax, sigmoid`},
		{"activation on probabilities", func(o *OpenInference) { o.Output.Activation = "sigmoid" },
			p + ".output.activation", `format is "probabilities": activation applies to formats logits, hf_probabilities (raw logits) and classification`},
		{"softmax over top K", func(o *OpenInference) {
			o.Output.Format, o.Output.Activation, o.Output.Classification = "classification", "softmax", 1
		}, p + ".output.activation", "softmax over the top 1 of 2 classes"},
		{"classification negative", func(o *OpenInference) { o.Output.Format, o.Output.Classification = "classification", -1 },
			p + ".output.classification", "-1 is negative"},
		{"classification on another format", func(o *OpenInference) { o.Output.Classification = 3 },
			p + ".output.classification", `format is "probabilities"`},
		{"input name with a newline", func(o *OpenInference) { o.Input.Name = "TEXT\n" },
			p + ".input.name", "printable"},
		{"output name too long", func(o *OpenInference) { o.Output.Name = strings.Repeat("o", 200) },
			p + ".output.name", "at most 128 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, baseYAML, nil)
			tc.mutate(&c.Models[0].OpenInference)
			wantProblem(t, c.Validate(), tc.path, tc.msg)
		})
	}
}

func TestOpenInferenceAccepts(t *testing.T) {
	for _, block := range []string{
		"      input: {name: TEXT, datatype: BYTES, shape: \"[N]\"}\n      output: {name: OUTPUT0, format: class_index}\n",
		"      output: {format: logits, activation: sigmoid}\n",
		"      output: {name: output-0, format: hf_probabilities}\n",
		// The Hugging Face runtime's --return_raw_logits: the same dicts, of logits.
		"      input: {name: input-0}\n      output: {format: hf_probabilities, activation: softmax}\n",
		"      output: {name: probs, format: classification, classification: 1}\n",
		"      output: {name: logits, format: classification, activation: softmax}\n",
	} {
		if _, err := Parse([]byte(oiYAML(block)), nil); err != nil {
			t.Errorf("%s: %v", block, err)
		}
	}
}

func TestOpenInferenceBlockOnlyForItsProtocol(t *testing.T) {
	c := mustParse(t, baseYAML, nil)
	c.Models[2].OpenInference.Output.Name = "logits"
	wantProblem(t, c.Validate(), "models[2].open_inference", `protocol is "tei"`)
}
