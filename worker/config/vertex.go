package config

import (
	"encoding/json"
	"net/url"
	"strings"
)

// Vertex is the vertex protocol's block of a model (models[].vertex): how
// texts are written into a ":predict" request's instances and how the
// server writes its predictions. Only a model whose protocol is vertex may
// set it. The defaults are Vertex AI AutoML text classification.
type Vertex struct {
	// Instance is one of automl_text ({"content": text, "mimeType": ...}),
	// string (the text itself), inputs ({"inputs": text}) or key
	// ({instance_key: text}). Default automl_text.
	Instance string `yaml:"instance"`
	// InstanceKey names the model's input for instance: key.
	InstanceKey string `yaml:"instance_key"`
	// MIMEType is sent with instance: automl_text; default text/plain.
	MIMEType string `yaml:"mime_type"`
	// Prediction is one of automl ({ids, displayNames, confidences}),
	// scores_classes ({scores, classes}), probabilities (a list of numbers
	// in the order of labels), label_score (a list of {label, score}) or
	// class_index (the index of the predicted label in labels). Default
	// automl.
	Prediction string `yaml:"prediction"`
	// Parameters is sent as the request's "parameters" object. Each value
	// is JSON text: 0.5 and true are a number and a boolean, a string
	// needs JSON quotes ('"abc"').
	Parameters map[string]string `yaml:"parameters"`
	// SignatureName is sent as "signature_name" (TF Serving); empty sends
	// none, and the server uses serving_default.
	SignatureName string `yaml:"signature_name"`
}

// The allowed values, as the vertex adapter names its forms.
var (
	vertexInstances   = []string{"automl_text", "string", "inputs", "key"}
	vertexPredictions = []string{"automl", "scores_classes", "probabilities", "label_score", "class_index"}
)

const (
	defaultVertexInstance   = "automl_text"
	defaultVertexMIMEType   = "text/plain"
	defaultVertexPrediction = "automl"
)

func (o *Vertex) isZero() bool {
	return o.Instance == "" && o.InstanceKey == "" && o.MIMEType == "" && o.Prediction == "" &&
		len(o.Parameters) == 0 && o.SignatureName == ""
}

func (o *Vertex) applyDefaults(m *Model) {
	setDefault(&o.Instance, defaultVertexInstance)
	setDefault(&o.Prediction, defaultVertexPrediction)
	if o.Instance == defaultVertexInstance {
		setDefault(&o.MIMEType, defaultVertexMIMEType)
	}
}

// check validates the block; p is its field path.
func (o *Vertex) check(v *validator, p string, m *Model) {
	if v.enum(p+".instance", o.Instance, vertexInstances) {
		if o.Instance == "key" {
			v.required(p+".instance_key", o.InstanceKey)
		} else if o.InstanceKey != "" {
			v.addf(p+".instance_key", "set, but instance is %q: it is for instance: key", o.Instance)
		}
		if o.MIMEType != "" && o.Instance != "automl_text" {
			v.addf(p+".mime_type", "set, but instance is %q: it is for instance: automl_text", o.Instance)
		}
	}
	v.enum(p+".prediction", o.Prediction, vertexPredictions)
	for _, k := range sortedKeys(o.Parameters) {
		if k == "" {
			v.addf(p+".parameters", "empty parameter name")
			continue
		}
		if !json.Valid([]byte(o.Parameters[k])) {
			v.addf(p+".parameters."+k, "%q is not JSON text: write a string in JSON quotes, e.g. '\"%s\"'",
				o.Parameters[k], strings.ReplaceAll(o.Parameters[k], `"`, `\"`))
		}
	}
	ap := strings.TrimSuffix(p, ".vertex") + ".auth"
	if GoogleAuth(m) {
		// Two sources for one header: which would win is not for map order
		// to decide.
		switch {
		case m.Auth.BearerTokenEnv != "":
			v.addf(ap+".google", "Google credentials and auth.bearer_token_env both set Authorization: set auth.google: false or drop bearer_token_env")
		case hasHeader(m.Auth.Headers, "Authorization") || hasHeader(m.Auth.HeadersEnv, "Authorization"):
			v.addf(ap+".google", "Google credentials and an Authorization header both set Authorization: set auth.google: false or drop the header")
		}
	}
}

// GoogleAuth reports whether m's requests carry Google credentials:
// auth.google when set, else on for Vertex AI hosts
// ({region}-aiplatform.googleapis.com), which take nothing else.
func GoogleAuth(m *Model) bool {
	if m.Auth.Google != nil {
		return *m.Auth.Google
	}
	u, err := url.Parse(m.URL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "aiplatform.googleapis.com" || strings.HasSuffix(h, "-aiplatform.googleapis.com") || strings.HasSuffix(h, ".aiplatform.googleapis.com")
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
