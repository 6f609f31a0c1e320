// Package app turns a validated config into running parts: endpoint client
// factories, the source and the sink. cmd/chorus only calls into it.
package app

import (
	"fmt"

	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
)

// Protocol names of config.Model.Protocol.
const (
	ProtocolOpenInference = "open-inference"
	ProtocolVertex        = "vertex"
	ProtocolTEI           = "tei"
)

// Clients resolves every model's credentials and TLS now, so a missing
// secret or certificate fails at start-up with the field's name, and
// returns a factory that builds each model's client on first use.
func Clients(cfg *config.Config, getenv func(string) string) (worker.ClientFactory, error) {
	access, err := cfg.Resolve(getenv)
	if err != nil {
		return nil, err
	}
	return func(m config.Model) (endpoint.Client, error) {
		a := access[m.Name]
		return NewClient(m, a)
	}, nil
}

// NewClient builds the protocol adapter for one model.
func NewClient(m config.Model, a config.Access) (endpoint.Client, error) {
	spec := endpoint.Spec{
		Name: m.Name, RemoteName: m.RemoteName, Version: m.Version, URL: m.URL,
		Labels: m.Labels, Timeout: m.Timeout, Headers: a.Headers, TLS: a.TLS,
	}
	switch m.Protocol {
	case ProtocolOpenInference:
		return openinference.New(spec)
	case ProtocolVertex:
		return vertex.New(spec)
	case ProtocolTEI:
		return tei.New(spec)
	default:
		return nil, fmt.Errorf("models: %s: protocol %q is not one of %s, %s, %s", m.Name, m.Protocol, ProtocolOpenInference, ProtocolVertex, ProtocolTEI)
	}
}
