package app

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
)

// openInferenceClient maps models[].open_inference onto the adapter.
func openInferenceClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	return openinference.New(spec)
}
