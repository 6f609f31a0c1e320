package config

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// SageMaker is the sagemaker protocol's block of a model
// (models[].sagemaker): an Amazon SageMaker AI real-time endpoint called
// with InvokeEndpoint, signed with the worker's AWS credentials (the
// default chain: IRSA on EKS, the environment, a profile, an instance
// role). Only a model whose protocol is sagemaker may set it. The model's
// url is optional: it overrides the regional runtime URL (a VPC
// endpoint); labels are the names the model's answer carries, after
// label_prefix and label_map.
type SageMaker struct {
	// Endpoint is the SageMaker endpoint name; default remote_name.
	Endpoint string `yaml:"endpoint"`
	// Region is the endpoint's region; default the AWS chain's
	// (AWS_REGION, the profile).
	Region string `yaml:"region"`
	// TargetVariant, TargetModel, InferenceComponent and
	// TargetContainerHostname route each request within the endpoint:
	// a production variant, a model archive of a multi-model endpoint, an
	// inference component, a container of a direct-invocation pipeline.
	TargetVariant           string `yaml:"target_variant"`
	TargetModel             string `yaml:"target_model"`
	InferenceComponent      string `yaml:"inference_component"`
	TargetContainerHostname string `yaml:"target_container_hostname"`
	// CustomAttributes is forwarded to the container as
	// X-Amzn-SageMaker-Custom-Attributes.
	CustomAttributes string `yaml:"custom_attributes"`
	// Request is inputs ({"inputs": [...]}, the Hugging Face inference
	// toolkit's; default), instances ({"instances": [...]}, BlazingText's
	// and TensorFlow Serving's) or jsonlines (one {"source": text} per
	// line, BlazingText's application/jsonlines).
	Request string `yaml:"request"`
	// Response is label_score (a list of {label, score} per text, the
	// toolkit's; default), blazingtext ({"prob": [...], "label": [...]}
	// per text, JSON or JSON Lines) or predictions ({"predictions":
	// [...]}, each a list of probabilities in the order of labels).
	Response string `yaml:"response"`
	// Parameters is the toolkit's "parameters" object (request: inputs);
	// each value is JSON text: top_k: "null" scores every label,
	// truncation: "true" cuts a long text instead of failing it.
	Parameters map[string]string `yaml:"parameters"`
	// K asks BlazingText for its top k labels (request: instances or
	// jsonlines); without it only the top label comes back.
	K int `yaml:"k"`
	// LabelPrefix is cut from the model's labels (BlazingText:
	// "__label__").
	LabelPrefix string `yaml:"label_prefix"`
	// LabelMap renames the model's labels (after label_prefix) to
	// configured ones, e.g. LABEL_0: negative.
	LabelMap map[string]string `yaml:"label_map"`
	// MaxPayloadBytes bounds a request body: a larger batch is split
	// before it is sent. Default 6MiB, InvokeEndpoint's limit (serverless
	// endpoints: 4MB).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
}

// The allowed values, as the sagemaker adapter names its forms.
var (
	sageMakerRequests  = []string{"inputs", "instances", "jsonlines"}
	sageMakerResponses = []string{"label_score", "blazingtext", "predictions"}
	// sageMakerEndpointName is CreateEndpoint's pattern for a name.
	sageMakerEndpointName = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
	// awsRegion is the shape of a region name (eu-west-1, us-gov-west-1).
	awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

const (
	defaultSageMakerRequest  = "inputs"
	defaultSageMakerResponse = "label_score"
	defaultSageMakerPayload  = 6 << 20
	// maxSageMakerPayload bounds max_payload_bytes far above AWS's limit,
	// which may grow, and far below what a batch could hold in memory.
	maxSageMakerPayload = 64 << 20
	maxSageMakerHeader  = 1024
)

func (o *SageMaker) isZero() bool {
	return o.Endpoint == "" && o.Region == "" && o.TargetVariant == "" && o.TargetModel == "" &&
		o.InferenceComponent == "" && o.TargetContainerHostname == "" && o.CustomAttributes == "" &&
		o.Request == "" && o.Response == "" && len(o.Parameters) == 0 && o.K == 0 &&
		o.LabelPrefix == "" && len(o.LabelMap) == 0 && o.MaxPayloadBytes == 0
}

func (o *SageMaker) applyDefaults(m *Model) {
	setDefault(&o.Endpoint, m.RemoteName)
	setDefault(&o.Request, defaultSageMakerRequest)
	setDefault(&o.Response, defaultSageMakerResponse)
	setDefault(&o.MaxPayloadBytes, defaultSageMakerPayload)
}

// check validates the block; p is its field path.
func (o *SageMaker) check(v *validator, p string, m *Model) {
	if len(o.Endpoint) > 63 || !sageMakerEndpointName.MatchString(o.Endpoint) {
		v.addf(p+".endpoint", "%q is not a SageMaker endpoint name: letters, digits and hyphens, at most 63, as CreateEndpoint named it", o.Endpoint)
	}
	if o.Region != "" && !awsRegion.MatchString(o.Region) {
		v.addf(p+".region", "%q is not an AWS region name, e.g. eu-west-1", o.Region)
	}
	for _, h := range []struct{ field, value string }{
		{"target_variant", o.TargetVariant}, {"target_model", o.TargetModel},
		{"inference_component", o.InferenceComponent}, {"target_container_hostname", o.TargetContainerHostname},
		{"custom_attributes", o.CustomAttributes},
	} {
		if len(h.value) > maxSageMakerHeader || strings.IndexFunc(h.value, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			v.addf(p+"."+h.field, "sent as a header: at most %d visible US-ASCII characters", maxSageMakerHeader)
		}
	}
	if v.enum(p+".request", o.Request, sageMakerRequests) {
		if len(o.Parameters) > 0 && o.Request != "inputs" {
			v.addf(p+".parameters", "set, but request is %q: parameters go with request: inputs (BlazingText takes k)", o.Request)
		}
		if o.K != 0 && o.Request == "inputs" {
			v.addf(p+".k", "set, but request is inputs: k is BlazingText's (request: instances or jsonlines); the toolkit takes parameters: {top_k: \"N\"}")
		}
	}
	v.enum(p+".response", o.Response, sageMakerResponses)
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
	if o.K < 0 {
		v.addf(p+".k", "%d is negative", o.K)
	}
	for _, from := range sortedKeys(o.LabelMap) {
		to := o.LabelMap[from]
		switch {
		case from == "":
			v.addf(p+".label_map", "an empty label name")
		case !slices.Contains(m.Labels, to):
			v.addf(p+".label_map."+from, "maps to %q, which is not one of labels (%s): the label would never be scored", to, strings.Join(m.Labels, ", "))
		}
	}
	if o.MaxPayloadBytes < 1 || o.MaxPayloadBytes > maxSageMakerPayload {
		v.addf(p+".max_payload_bytes", "%d is outside 1..%d (64MiB)", o.MaxPayloadBytes, maxSageMakerPayload)
	}
	mp := strings.TrimSuffix(p, ".sagemaker")
	if u, err := url.Parse(m.URL); err == nil && u.User != nil {
		v.addf(mp+".url", "holds userinfo, but protocol sagemaker signs every request with SigV4, which sets Authorization: drop it")
	}
	ap := mp + ".auth"
	switch {
	case m.Auth.BearerTokenEnv != "":
		v.addf(ap+".bearer_token_env", "set, but protocol sagemaker signs every request with SigV4, which sets Authorization: drop it")
	case hasHeader(m.Auth.Headers, "Authorization") || hasHeader(m.Auth.HeadersEnv, "Authorization"):
		v.addf(ap, "an Authorization header, but protocol sagemaker signs every request with SigV4, which sets it: drop the header")
	}
}
