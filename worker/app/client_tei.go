package app

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/tei"
)

// teiClient maps models[].tei onto the adapter.
func teiClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	return tei.New(spec)
}
