package config

// TEI is the tei protocol's block of a model (models[].tei): Hugging Face
// text-embeddings-inference serving a sequence-classification model.
// Only a model whose protocol is tei may set it.
type TEI struct {
	// Truncate asks the server to cut a text longer than the model's
	// token limit; default true. Off, such a text fails on its own (the
	// server refuses it and only its job is dead-lettered).
	Truncate *bool `yaml:"truncate"`
	// TruncationDirection is the end a text is cut from: right (keep
	// the start, the server's default) or left (keep the end).
	TruncationDirection string `yaml:"truncation_direction"`
	// ReadInfo reads GET /info before the first batch: the server's
	// batch-size limit, the model id and revision (recorded as the model
	// version when responses carry none) and its label set; default true.
	ReadInfo *bool `yaml:"read_info"`
}

// TEI truncation directions, as the server spells them.
const (
	TEITruncateRight = "right"
	TEITruncateLeft  = "left"
)

func (o *TEI) isZero() bool { return *o == TEI{} }

func (o *TEI) applyDefaults(*Model) {
	if o.Truncate == nil {
		o.Truncate = new(true)
	}
	if o.ReadInfo == nil {
		o.ReadInfo = new(true)
	}
	setDefault(&o.TruncationDirection, TEITruncateRight)
}

// check validates the block; p is its field path.
func (o *TEI) check(v *validator, p string, _ *Model) {
	v.enum(p+".truncation_direction", o.TruncationDirection, []string{TEITruncateRight, TEITruncateLeft})
}
