package wiring

import (
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/tei"
)

// teiClient maps models[].tei onto the adapter. The block's defaults are
// applied by config; a nil pointer (a Model built without Parse) means
// the default, on.
func teiClient(m config.Model, spec endpoint.Spec) (endpoint.Client, error) {
	b := m.TEI
	return tei.New(spec, tei.Options{
		NoTruncate:   b.Truncate != nil && !*b.Truncate,
		TruncateLeft: b.TruncationDirection == config.TEITruncateLeft,
		SkipInfo:     b.ReadInfo != nil && !*b.ReadInfo,
	})
}
