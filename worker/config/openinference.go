package config

import (
	"strings"
	"unicode"
)

// OpenInference is the open-inference protocol's block of a model (models[].open_inference).
// Only a model whose protocol is open-inference may set it.
type OpenInference struct {
	Input  OpenInferenceInput  `yaml:"input"`
	Output OpenInferenceOutput `yaml:"output"`
}

// OpenInferenceInput is the input tensor the texts are sent in.
type OpenInferenceInput struct {
	// Name of the tensor; "" reads it from the model metadata at start.
	Name string `yaml:"name"`
	// Datatype is BYTES, the only type texts travel in (default).
	Datatype string `yaml:"datatype"`
	// Shape is "[N]" or "[N,1]"; "" takes the metadata's when name is
	// read from it, else "[N,1]".
	Shape string `yaml:"shape"`
}

// OpenInferenceOutput is the output tensor the scores are read from.
type OpenInferenceOutput struct {
	// Name of the tensor; "" reads it from the model metadata at start.
	Name string `yaml:"name"`
	// Format is one of oiFormats; default probabilities.
	Format string `yaml:"format"`
	// Activation turns logits into probabilities: softmax or sigmoid.
	// For format logits (default softmax), and for hf_probabilities (the
	// Hugging Face runtime's --return_raw_logits) and classification
	// (Triton classifies raw output values) when the values are logits
	// (default none: they are probabilities).
	Activation string `yaml:"activation"`
	// Classification is how many top classes to ask Triton's
	// classification extension for; 0 means as many as labels.
	Classification int `yaml:"classification"`
}

// Values of the block's enums.
var (
	oiDatatypes   = []string{"BYTES"}
	oiShapes      = []string{"[N]", "[N,1]"}
	oiFormats     = []string{"probabilities", "logits", "class_index", "hf_probabilities", "classification"}
	oiActivations = []string{"softmax", "sigmoid"}
)

func (o *OpenInference) isZero() bool { return *o == OpenInference{} }

func (o *OpenInference) applyDefaults(m *Model) {
	setDefault(&o.Input.Datatype, "BYTES")
	// "[N, 1]" is the same form; one spelling reaches the adapter.
	o.Input.Shape = strings.Join(strings.Fields(o.Input.Shape), "")
	setDefault(&o.Output.Format, "probabilities")
	if o.Output.Format == "logits" {
		setDefault(&o.Output.Activation, "softmax")
	}
}

// check validates the block; p is its field path.
func (o *OpenInference) check(v *validator, p string, m *Model) {
	in, out := &o.Input, &o.Output
	v.tensorName(p+".input.name", in.Name)
	v.tensorName(p+".output.name", out.Name)
	v.enum(p+".input.datatype", in.Datatype, oiDatatypes)
	if in.Shape != "" {
		v.enum(p+".input.shape", in.Shape, oiShapes)
	}
	if !v.enum(p+".output.format", out.Format, oiFormats) {
		return
	}
	if out.Activation != "" {
		switch {
		case out.Format != "logits" && out.Format != "classification" && out.Format != "hf_probabilities":
			v.addf(p+".output.activation", "set, but format is %q: activation applies to formats logits, hf_probabilities (raw logits) and classification", out.Format)
		case v.enum(p+".output.activation", out.Activation, oiActivations) && out.Format == "classification" &&
			out.Activation == "softmax" && out.Classification > 0 && out.Classification < len(m.Labels):
			v.addf(p+".output.activation", "softmax over the top %d of %d classes would inflate every score; set classification to 0 (all classes) or use sigmoid", out.Classification, len(m.Labels))
		}
	}
	switch {
	case out.Classification < 0:
		v.addf(p+".output.classification", "%d is negative", out.Classification)
	case out.Classification > 0 && out.Format != "classification":
		v.addf(p+".output.classification", "set, but format is %q: classification applies to format classification", out.Format)
	}
}

// tensorName checks an optional tensor name: it goes into requests and
// error messages.
func (v *validator) tensorName(p, s string) {
	if len(s) > maxNameBytes || strings.IndexFunc(s, unicode.IsControl) >= 0 || strings.TrimSpace(s) != s {
		v.addf(p, "must be at most %d bytes of printable text without surrounding spaces", maxNameBytes)
	}
}
