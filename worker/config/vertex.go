package config

// Vertex is the vertex protocol's block of a model (models[].vertex).
// Only a model whose protocol is vertex may set it.
type Vertex struct{}

func (o *Vertex) isZero() bool { return true }

func (o *Vertex) applyDefaults(m *Model) {}

// check validates the block; p is its field path.
func (o *Vertex) check(v *validator, p string, m *Model) {}
