package config

// TEI is the tei protocol's block of a model (models[].tei).
// Only a model whose protocol is tei may set it.
type TEI struct{}

func (o *TEI) isZero() bool { return true }

func (o *TEI) applyDefaults(m *Model) {}

// check validates the block; p is its field path.
func (o *TEI) check(v *validator, p string, m *Model) {}
