package wiring

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/openinference"
)

// openInferenceClient maps models[].open_inference onto the adapter.
func openInferenceClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	in, out := m.OpenInference.Input, m.OpenInference.Output
	return openinference.New(spec, openinference.Options{
		Input: openinference.Input{
			Name:     in.Name,
			Datatype: in.Datatype,
			Shape:    openinference.Shape(in.Shape),
		},
		Output: openinference.Output{
			Name:           out.Name,
			Format:         openinference.Format(out.Format),
			Activation:     openinference.Activation(out.Activation),
			Classification: out.Classification,
		},
	})
}
