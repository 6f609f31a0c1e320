package app

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/vertex"
)

// vertexClient maps models[].vertex and Google credentials onto the adapter.
func vertexClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	return vertex.New(spec)
}
