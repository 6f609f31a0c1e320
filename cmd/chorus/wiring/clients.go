// Package app turns a validated config into running parts: endpoint client
// factories, the source and the sink. cmd/chorus only calls into it.
package wiring

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
)

// Protocol names of config.Model.Protocol.
const (
	ProtocolOpenInference = "open-inference"
	ProtocolVertex        = "vertex"
	ProtocolTEI           = "tei"
	ProtocolOpenAI        = "openai"
	ProtocolSageMaker     = "sagemaker"
)

// Clients resolves every model's credentials and TLS now, so a missing
// secret or certificate fails at start-up with the field's name, and
// returns a factory that builds each model's client on first use. Warnings
// an adapter reports once (labels dropped) go to log.
func Clients(cfg *config.Config, getenv func(string) string, log zerolog.Logger) (worker.ClientFactory, error) {
	access, err := cfg.Resolve(getenv)
	if err != nil {
		return nil, err
	}
	google, err := googleTransports(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return func(m config.Model) (endpoint.Client, error) {
		a := access[m.Name]
		c, err := newClient(m, a, google[m.Name], awsCfg, func(msg string) { log.Warn().Str("model", m.Name).Msg(msg) })
		if err != nil {
			return nil, err
		}
		return c, nil
	}, nil
}

// NewClient builds the protocol adapter for one model. warn may be nil.
func NewClient(m config.Model, a config.Access, warn func(string)) (endpoint.Client, error) {
	return newClient(m, a, nil, nil, warn)
}

// newClient is NewClient with a transport wrapper (Google credentials)
// and the AWS config (SageMaker; nil loads it).
func newClient(m config.Model, a config.Access, transport func(http.RoundTripper) http.RoundTripper, awsCfg *aws.Config, warn func(string)) (endpoint.Client, error) {
	spec := endpoint.Spec{
		Name: m.Name, RemoteName: m.RemoteName, Version: m.Version, URL: m.URL,
		Labels: m.Labels, StrictLabels: m.StrictLabels, Timeout: m.Timeout,
		MaxResponseBytes: int64(m.MaxResponseBytes), Headers: a.Headers, TLS: a.TLS, Warn: warn,
		Transport: transport,
	}
	switch m.Protocol {
	case ProtocolOpenInference:
		return openInferenceClient(m, spec)
	case ProtocolVertex:
		return vertexClient(m, spec)
	case ProtocolTEI:
		return teiClient(m, spec)
	case ProtocolOpenAI:
		return openAIClient(m, spec)
	case ProtocolSageMaker:
		return sageMakerClient(m, spec, awsCfg)
	default:
		return nil, fmt.Errorf("models: %s: protocol %q is not one of %s, %s, %s, %s, %s", m.Name, m.Protocol, ProtocolOpenInference, ProtocolVertex, ProtocolTEI, ProtocolOpenAI, ProtocolSageMaker)
	}
}
