package config

// OpenInference is the open-inference protocol's block of a model (models[].open_inference).
// Only a model whose protocol is open-inference may set it.
type OpenInference struct{}

func (o *OpenInference) isZero() bool { return true }

func (o *OpenInference) applyDefaults(m *Model) {}

// check validates the block; p is its field path.
func (o *OpenInference) check(v *validator, p string, m *Model) {}
