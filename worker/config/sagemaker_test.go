package config

import (
	"reflect"
	"strings"
	"testing"
)

// sageMakerYAML is baseYAML with the acme-topics model on protocol
// sagemaker, with block as its lines after labels (and no url unless
// block sets one).
func sageMakerYAML(block string) string {
	return strings.Replace(baseYAML,
		"    protocol: tei\n    url: http://127.0.0.1:8500/tei/acme-topics\n    labels: [mobile-app]\n",
		"    protocol: sagemaker\n    labels: [mobile-app, billing]\n"+block, 1)
}

func TestSageMakerBlock(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  SageMaker
		url   string
	}{
		{"defaults", "", SageMaker{Endpoint: "acme-topics", Request: "inputs", Response: "label_score", MaxPayloadBytes: 6 << 20}, ""},
		{"hf toolkit", "    remote_name: acme-topics-prod\n    sagemaker:\n      region: eu-west-1\n      parameters: {top_k: \"null\", truncation: \"true\"}\n      label_map: {LABEL_0: mobile-app, LABEL_1: billing}\n      target_variant: canary\n      custom_attributes: \"trace=1\"\n",
			SageMaker{Endpoint: "acme-topics-prod", Region: "eu-west-1", Request: "inputs", Response: "label_score", MaxPayloadBytes: 6 << 20,
				Parameters: map[string]string{"top_k": "null", "truncation": "true"}, LabelMap: map[string]string{"LABEL_0": "mobile-app", "LABEL_1": "billing"},
				TargetVariant: "canary", CustomAttributes: "trace=1"}, ""},
		{"blazingtext jsonlines over a vpc endpoint", "    url: https://vpce-0abc.runtime.sagemaker.eu-west-1.vpce.amazonaws.com\n    sagemaker:\n      endpoint: bt-topics\n      request: jsonlines\n      response: blazingtext\n      k: 2\n      label_prefix: __label__\n      max_payload_bytes: 4MB\n",
			SageMaker{Endpoint: "bt-topics", Request: "jsonlines", Response: "blazingtext", K: 2, LabelPrefix: "__label__", MaxPayloadBytes: 4_000_000},
			"https://vpce-0abc.runtime.sagemaker.eu-west-1.vpce.amazonaws.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, sageMakerYAML(tc.block), nil)
			m := c.Models[2]
			if m.Protocol != "sagemaker" {
				t.Fatalf("model 2 is %q on %q", m.Name, m.Protocol)
			}
			if !reflect.DeepEqual(m.SageMaker, tc.want) {
				t.Errorf("sagemaker = %+v\nwant %+v", m.SageMaker, tc.want)
			}
			if m.URL != tc.url {
				t.Errorf("url %q, want %q", m.URL, tc.url)
			}
		})
	}
}

func TestSageMakerBlockErrors(t *testing.T) {
	tests := []struct {
		name, block, path, msg string
	}{
		{"endpoint name", "    sagemaker: {endpoint: my_endpoint}\n", "models[2].sagemaker.endpoint", "not a SageMaker endpoint name"},
		{"region", "    sagemaker: {region: Ireland}\n", "models[2].sagemaker.region", "not an AWS region name"},
		{"request form", "    sagemaker: {request: csv}\n", "models[2].sagemaker.request", `got "csv", expected one of inputs, instances, jsonlines`},
		{"response form", "    sagemaker: {response: csv}\n", "models[2].sagemaker.response", `got "csv", expected one of label_score, blazingtext, predictions`},
		{"parameters with instances", "    sagemaker: {request: instances, parameters: {top_k: \"2\"}}\n", "models[2].sagemaker.parameters", "go with request: inputs"},
		{"k with inputs", "    sagemaker: {k: 2}\n", "models[2].sagemaker.k", "BlazingText's"},
		{"negative k", "    sagemaker: {request: instances, k: -1}\n", "models[2].sagemaker.k", "negative"},
		{"parameter not JSON", "    sagemaker: {parameters: {aggregation: first}}\n", "models[2].sagemaker.parameters.aggregation", "not JSON text"},
		{"label map to an unknown label", "    sagemaker: {label_map: {LABEL_0: mobile}}\n", "models[2].sagemaker.label_map.LABEL_0", `maps to "mobile", which is not one of labels`},
		{"payload", "    sagemaker: {max_payload_bytes: 1GiB}\n", "models[2].sagemaker.max_payload_bytes", "outside 1.."},
		{"header value", "    sagemaker: {custom_attributes: \"é\"}\n", "models[2].sagemaker.custom_attributes", "visible US-ASCII"},
		{"bearer token", "    auth: {bearer_token_env: TOKEN}\n", "models[2].auth.bearer_token_env", "SigV4"},
		{"authorization header", "    auth: {headers: {Authorization: x}}\n", "models[2].auth", "SigV4"},
		{"url userinfo", "    url: https://u:p@gw.example\n", "models[2].url", "SigV4"},
		{"url not absolute", "    url: gw.example\n", "models[2].url", "not an absolute http(s) URL"},
		{"unknown field", "    sagemaker: {endpoint_name: x}\n", "models[2].sagemaker", `unknown field "endpoint_name"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(sageMakerYAML(tc.block)), env(map[string]string{"TOKEN": "t"}))
			wantProblem(t, err, tc.path, tc.msg)
		})
	}
	// The block on another protocol, and a url still required there.
	other := strings.Replace(baseYAML, "    labels: [pricing, billing]\n", "    labels: [pricing, billing]\n    sagemaker: {region: eu-west-1}\n", 1)
	_, err := Parse([]byte(other), nil)
	wantProblem(t, err, "models[1].sagemaker", "this block is for protocol sagemaker")
}
