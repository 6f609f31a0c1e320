package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes walked with aliases expanded, so that a small
// file cannot make decoding take unbounded time (an alias bomb).
const maxNodes = 1 << 20

// decoder walks a yaml.Node tree against the Config struct by reflection.
// yaml.v3's own strict mode (KnownFields) stops at the first unknown field
// and does not say where in the structure it is; walking ourselves lets us
// report every problem with its field path and line.
type decoder struct {
	errs  errs
	lines map[string]int // field path → line, to place validation errors
	nodes int
	limit int // most nodes walked; maxNodes but for tests
}

// decode fills c from data, walking at most limit nodes, and returns the
// line of each field path seen.
func decode(data []byte, c *Config, limit int) (map[string]int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	d := &decoder{lines: map[string]int{}, limit: limit}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != 0 && root.Kind != yaml.DocumentNode {
		d.value(root, reflect.ValueOf(c).Elem(), "", "")
	}
	return d.lines, d.errs.err()
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs.list = append(d.errs.list, &FieldError{Path: path, Line: n.Line, Err: fmt.Errorf(format, args...)})
}

// value decodes n into v. name is the YAML field name, which selects the
// byte-size syntax for fields ending in _bytes.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, name string) {
	if d.nodes++; d.nodes > d.limit {
		if d.nodes == d.limit+1 {
			d.fail(n, path, "document too large: over %d nodes with aliases expanded", d.limit)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.value(n.Alias, v, path, name)
		return
	}
	// An explicit null reads as if the field were absent, so defaults apply.
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.SetZero()
		return
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.value(n, p.Elem(), path, name)
		v.Set(p)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Float64:
		d.scalar(n, v, path, name)
	default:
		// A Config field of a type this walker does not know: a bug here,
		// caught by the tests that decode full-reference.yaml.
		d.fail(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path, name string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", describe(v), nodeKind(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "expected true or false, got %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int:
		if strings.HasSuffix(name, "_bytes") {
			size, err := parseByteSize(n.Value)
			if err != nil {
				d.fail(n, path, "expected a byte size like 1048576 or \"64MiB\", got %q: %w", n.Value, err)
				return
			}
			v.SetInt(size)
			return
		}
		var i int
		if err := n.Decode(&i); err != nil {
			d.fail(n, path, "expected an integer, got %q", n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		var f float64
		if err := n.Decode(&f); err != nil {
			d.fail(n, path, "expected a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	}
}

// duration takes Go duration strings only: yaml.v3 would read a bare 5 as
// 5ns, which is never what a config author meant.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a duration, got %s", nodeKind(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, path, "expected a duration like \"5ms\" or \"30s\", got %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", nodeKind(n))
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		i, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", key)
			if s := suggest(key, fields); s != "" {
				msg += fmt.Sprintf(", did you mean %q?", s)
			}
			d.fail(p.key, path, "%s", msg)
			continue
		}
		fp := join(path, key)
		d.lines[fp] = p.key.Line
		d.value(p.val, v.Field(i), fp, key)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", nodeKind(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.key.Value)
		d.lines[fp] = p.key.Line
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(p.val, ev, fp, "")
		m.SetMapIndex(reflect.ValueOf(p.key.Value), ev)
	}
	v.Set(m)
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a list, got %s", nodeKind(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if d.nodes > d.limit {
			break
		}
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip] = item.Line
		d.value(item, s.Index(i), ip, "")
	}
	v.Set(s)
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *base) expanded.
// Merged entries come first so that the mapping's own entries, decoded
// later, override them.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var merged, own []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		// Merge keys copy entries without walking them as values, so they
		// are counted here: a few nested "<<: [*a, *a, …]" would otherwise
		// expand to billions of entries past the node guard.
		if d.nodes++; d.nodes > d.limit {
			if d.nodes == d.limit+1 {
				d.fail(n, path, "document too large: over %d nodes with aliases and merge keys expanded", d.limit)
			}
			return nil
		}
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "expected a string key, got %s", nodeKind(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if seen[k.Value] {
			d.fail(k, path, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		own = append(own, pair{k, val})
	}
	return append(merged, own...)
}

func (d *decoder) merge(n *yaml.Node, path string) []pair {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		// Earlier sources take precedence in YAML, so they go last.
		var out []pair
		for _, src := range slices.Backward(n.Content) {
			if src = deref(src); src.Kind != yaml.MappingNode {
				d.fail(src, path, "merge key << expects mappings, got %s", nodeKind(src))
				continue
			}
			out = append(out, d.pairs(src, path)...)
		}
		return out
	}
	d.fail(n, path, "merge key << expects a mapping or a list of mappings, got %s", nodeKind(n))
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// yamlFields maps a struct's YAML field names to field indexes. It is
// recomputed per struct rather than cached: configs are small, and a cache
// would be package state.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func describe(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return v.Type().String()
}

// suggest returns the known field closest to a misspelt one, if any is
// close enough to be a likely typo.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	for name := range fields {
		dist := editDistance(key, name)
		if dist < bestDist || dist == bestDist && best != "" && name < best {
			best, bestDist = name, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
