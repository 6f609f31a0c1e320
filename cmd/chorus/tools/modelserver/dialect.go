package modelserver

import (
	"fmt"
	"slices"
	"strings"
)

// OpenInferenceDialect is the model server the open-inference routes
// answer as: the protocol fixes the envelope, but tensor names, datatypes,
// metadata and error words are each server's own.
type OpenInferenceDialect string

// Open-inference dialects.
const (
	// OIPChorus is a model built for Chorus: input "text", output
	// "probabilities" FP32 [N, L], labels in the metadata's parameters.
	OIPChorus OpenInferenceDialect = "chorus"
	// OIPTriton is a Triton Inference Server model: input "TEXT" BYTES
	// [-1, 1], output "logits" FP32 [N, L] (raw logits), Triton's metadata,
	// config and error words, and its classification extension.
	OIPTriton OpenInferenceDialect = "triton"
	// OIPKServeHF is KServe's Hugging Face runtime serving a sequence
	// classifier with return_probabilities: input "input-0" BYTES, output
	// "output-0" BYTES holding one stringified Python dict per text.
	OIPKServeHF OpenInferenceDialect = "kserve-hf"
)

// VertexDialect is the server the ":predict" routes answer as.
type VertexDialect string

// Vertex dialects.
const (
	// VertexAutoML is Vertex AI AutoML text classification: instances
	// {"content", "mimeType"}, predictions {"ids", "displayNames",
	// "confidences"}.
	VertexAutoML VertexDialect = "automl"
	// VertexTabular is Vertex AI tabular classification: predictions
	// {"scores": [...], "classes": [...]}.
	VertexTabular VertexDialect = "tabular"
	// VertexTFServing is TensorFlow Serving's REST API: instances are the
	// texts, predictions lists of probabilities by label position, errors
	// {"error": "..."}.
	VertexTFServing VertexDialect = "tf-serving"
)

// TEIDialect is the server the tei routes answer as. TEI has one.
type TEIDialect string

// TEI is text-embeddings-inference serving a sequence classifier.
const TEI TEIDialect = "tei"

// Dialects choose, per protocol, the server the routes answer as. The
// zero value is the default of each: OIPChorus, VertexAutoML, TEI.
type Dialects struct {
	OpenInference OpenInferenceDialect
	Vertex        VertexDialect
	TEI           TEIDialect
}

// Protocol names, as Dialects.Set takes them.
const (
	ProtocolOpenInference = "open-inference"
	ProtocolVertex        = "vertex"
	ProtocolTEI           = "tei"
)

var (
	openInferenceDialects = []OpenInferenceDialect{OIPChorus, OIPTriton, OIPKServeHF}
	vertexDialects        = []VertexDialect{VertexAutoML, VertexTabular, VertexTFServing}
	teiDialects           = []TEIDialect{TEI}
)

// withDefaults fills the protocols d leaves empty.
func (d Dialects) withDefaults() Dialects {
	if d.OpenInference == "" {
		d.OpenInference = OIPChorus
	}
	if d.Vertex == "" {
		d.Vertex = VertexAutoML
	}
	if d.TEI == "" {
		d.TEI = TEI
	}
	return d
}

// Validate reports a dialect no protocol has.
func (d Dialects) Validate() error {
	d = d.withDefaults()
	if !slices.Contains(openInferenceDialects, d.OpenInference) {
		return unknownDialect(ProtocolOpenInference, string(d.OpenInference), openInferenceDialects)
	}
	if !slices.Contains(vertexDialects, d.Vertex) {
		return unknownDialect(ProtocolVertex, string(d.Vertex), vertexDialects)
	}
	if !slices.Contains(teiDialects, d.TEI) {
		return unknownDialect(ProtocolTEI, string(d.TEI), teiDialects)
	}
	return nil
}

func unknownDialect[D ~string](protocol, name string, known []D) error {
	return fmt.Errorf("%s dialect %q is not one of %s", protocol, name, join(known))
}

func join[D ~string](ds []D) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// String writes d as Set reads it, defaults included.
func (d *Dialects) String() string {
	if d == nil {
		return ""
	}
	e := d.withDefaults()
	return fmt.Sprintf("%s=%s,%s=%s,%s=%s",
		ProtocolOpenInference, e.OpenInference, ProtocolVertex, e.Vertex, ProtocolTEI, e.TEI)
}

// Set reads "protocol=dialect", or several joined by commas, so that
// Dialects is a flag.Value that may be given more than once; a later
// setting for a protocol replaces an earlier one.
func (d *Dialects) Set(s string) error {
	next := *d
	for _, part := range strings.Split(s, ",") {
		protocol, name, ok := strings.Cut(strings.TrimSpace(part), "=")
		protocol, name = strings.TrimSpace(protocol), strings.TrimSpace(name)
		if !ok || protocol == "" || name == "" {
			return fmt.Errorf("%q is not protocol=dialect (protocols: %s, %s, %s)", part, ProtocolOpenInference, ProtocolVertex, ProtocolTEI)
		}
		switch protocol {
		case ProtocolOpenInference:
			next.OpenInference = OpenInferenceDialect(name)
		case ProtocolVertex:
			next.Vertex = VertexDialect(name)
		case ProtocolTEI:
			next.TEI = TEIDialect(name)
		default:
			return fmt.Errorf("unknown protocol %q (protocols: %s, %s, %s)", protocol, ProtocolOpenInference, ProtocolVertex, ProtocolTEI)
		}
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*d = next
	return nil
}

// DialectUsage lists every protocol's dialects, default first, for a
// flag's help.
func DialectUsage() string {
	return fmt.Sprintf("%s: %s; %s: %s; %s: %s",
		ProtocolOpenInference, join(openInferenceDialects),
		ProtocolVertex, join(vertexDialects),
		ProtocolTEI, join(teiDialects))
}
