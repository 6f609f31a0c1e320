package config

import (
	"strings"
	"testing"
)

// vertexYAML is baseYAML with its first model served by Vertex AI.
func vertexYAML(block string) string {
	y := strings.Replace(baseYAML, `  - name: sentiment-nb
    protocol: open-inference
    url: http://127.0.0.1:8500
`, `  - name: sentiment-nb
    protocol: vertex
    url: http://127.0.0.1:8501
`+block, 1)
	if y == baseYAML {
		panic("baseYAML changed: vertexYAML no longer applies")
	}
	return y
}

func TestVertexDefaults(t *testing.T) {
	c := mustParse(t, vertexYAML(""), nil)
	got := c.Models[0].Vertex
	want := Vertex{Instance: "automl_text", MIMEType: "text/plain", Prediction: "automl"}
	if !equal(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	c = mustParse(t, vertexYAML("    vertex:\n      instance: string\n      prediction: probabilities\n"), nil)
	if v := c.Models[0].Vertex; v.MIMEType != "" {
		t.Errorf("mime_type defaulted to %q for instance: string", v.MIMEType)
	}
}

func TestVertexAccepts(t *testing.T) {
	for _, block := range []string{
		"",
		`    vertex:
      instance: key
      instance_key: text
      prediction: scores_classes
      signature_name: serving_default
`,
		`    vertex:
      instance: inputs
      prediction: label_score
      parameters:
        confidenceThreshold: 0.5
        maxPredictions: "5"
        mode: '"fast"'
        flags: '{"a": [1, true]}'
`,
		`    vertex:
      instance: automl_text
      mime_type: text/html
      prediction: class_index
`,
	} {
		c := mustParse(t, vertexYAML(block), nil)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", block, err)
		}
	}
}

func TestVertexRules(t *testing.T) {
	tests := []struct {
		name, block, path, msg string
	}{
		{"instance unknown", "    vertex:\n      instance: text\n",
			"models[0].vertex.instance", `got "text", expected one of automl_text, string, inputs, key`},
		{"prediction unknown", "    vertex:\n      prediction: softmax\n",
			"models[0].vertex.prediction", `got "softmax", expected one of automl, scores_classes, probabilities, label_score, class_index`},
		{"key needs a name", "    vertex:\n      instance: key\n",
			"models[0].vertex.instance_key", "required"},
		{"instance key without key", "    vertex:\n      instance: string\n      instance_key: text\n",
			"models[0].vertex.instance_key", `set, but instance is "string"`},
		{"mime type without automl", "    vertex:\n      instance: inputs\n      mime_type: text/plain\n",
			"models[0].vertex.mime_type", `set, but instance is "inputs"`},
		{"parameter not JSON", "    vertex:\n      parameters:\n        mode: fast\n",
			"models[0].vertex.parameters.mode", `"fast" is not JSON text: write a string in JSON quotes, e.g. '"fast"'`},
		{"google and bearer token", "    auth:\n      google: true\n      bearer_token_env: TOKEN\n",
			"models[0].auth.google", "bearer_token_env both set Authorization"},
		{"google and authorization header", "    auth:\n      google: true\n      headers_env:\n        authorization: TOKEN\n",
			"models[0].auth.google", "an Authorization header both set Authorization"},
		{"bearer token off Vertex AI's host", "    auth:\n      bearer_token_env: TOKEN\n",
			"", ""}, // google is off by default there: no conflict
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(vertexYAML(tc.block)), env(map[string]string{"TOKEN": "t"}))
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if c != nil {
				t.Fatalf("Parse accepted %q", tc.block)
			}
			wantProblem(t, err, tc.path, tc.msg)
		})
	}
}

// The block belongs to protocol vertex only.
func TestVertexBlockOnOtherProtocol(t *testing.T) {
	y := strings.Replace(baseYAML, "    labels: [pricing, billing]\n", "    labels: [pricing, billing]\n    vertex:\n      prediction: automl\n", 1)
	_, err := Parse([]byte(y), nil)
	wantProblem(t, err, "models[1].vertex", `set, but protocol is "open-inference"`)
}

func TestGoogleAuthDefault(t *testing.T) {
	on, off := true, false
	tests := []struct {
		url    string
		google *bool
		want   bool
	}{
		{"https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/1:predict", nil, true},
		{"https://us-central1-aiplatform.googleapis.com", nil, true},
		{"https://aiplatform.googleapis.com/v1/projects/p/locations/global/endpoints/1:predict", nil, true},
		{"https://1234.europe-west4-5678.prediction.vertexai.goog/v1/x:predict", nil, false},
		{"https://US-CENTRAL1-AIPLATFORM.GOOGLEAPIS.COM", nil, true},
		{"https://aiplatform.googleapis.com.evil.example/v1", nil, false},
		{"https://notaiplatform.googleapis.com", nil, false},
		{"http://127.0.0.1:8501", nil, false},
		{"https://europe-west4-aiplatform.googleapis.com", &off, false},
		{"http://127.0.0.1:8501", &on, true},
	}
	for _, tc := range tests {
		m := &Model{URL: tc.url, Auth: Auth{Google: tc.google}}
		if got := GoogleAuth(m); got != tc.want {
			t.Errorf("GoogleAuth(%s, google=%v) = %v, want %v", tc.url, tc.google, got, tc.want)
		}
	}
}
