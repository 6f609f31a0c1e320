package main

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// ---------------------------------------------------------------------------
// Terraform evaluated in process: the root modules under deploy/terraform
// parsed, their variables' defaults, locals and resource instances
// evaluated, so the checks in deploy_terraform_test.go compare real names,
// settings and grants without running terraform.

// tfModule is one Terraform root module (a directory of .tf files).
type tfModule struct {
	dir    string
	blocks []*hclsyntax.Block
	ctx    *hcl.EvalContext // variables' defaults, path, locals, functions
	insts  []tfInstance     // every resource and data instance, evaluated
}

func (m *tfModule) resources(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

func loadTerraform(t *testing.T) map[string]*tfModule {
	t.Helper()
	p := hclparse.NewParser()
	modules := map[string]*tfModule{}
	err := filepath.WalkDir(filepath.Join(deployDir, "terraform"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return err
		}
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return diags
		}
		dir := filepath.Dir(path)
		m := modules[filepath.Base(dir)]
		if m == nil {
			m = &tfModule{dir: dir}
			modules[filepath.Base(dir)] = m
		}
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		m.ctx = evalContext(m)
		m.evalResources()
	}
	return modules
}

// evalContext gives expressions the variables' defaults, path.module, the
// locals that evaluate from those, file() and the few other functions the
// modules call.
func evalContext(m *tfModule) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for _, b := range m.blocks {
		if b.Type != "variable" || len(b.Labels) != 1 {
			continue
		}
		vars[b.Labels[0]] = cty.DynamicVal
		if a, ok := b.Body.Attributes["default"]; ok {
			if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
				vars[b.Labels[0]] = v
			}
		}
	}
	dir := m.dir
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(vars),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(dir)}),
		},
		Functions: map[string]function.Function{
			"file": function.New(&function.Spec{
				Params: []function.Parameter{{Name: "path", Type: cty.String}},
				Type:   function.StaticReturnType(cty.String),
				Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
					b, err := os.ReadFile(args[0].AsString())
					if err != nil {
						return cty.NilVal, err
					}
					return cty.StringVal(string(b)), nil
				},
			}),
			"jsonencode": stdlib.JSONEncodeFunc,
			"concat":     stdlib.ConcatFunc,
			"element":    stdlib.ElementFunc,
			"split":      stdlib.SplitFunc,
			"toset":      stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		},
	}
	locals := map[string]cty.Value{}
	for _, b := range m.blocks {
		if b.Type != "locals" {
			continue
		}
		for name, a := range b.Body.Attributes {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
				locals[name] = v
			}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

func attr(b *hclsyntax.Block, name string) hcl.Expression {
	if a, ok := b.Body.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

func block(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func tfEval(t *testing.T, ctx *hcl.EvalContext, e hcl.Expression) cty.Value {
	t.Helper()
	if e == nil {
		t.Fatal("attribute missing")
	}
	v, diags := e.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", e.Range(), diags)
	}
	return v
}

func evalStrings(t *testing.T, ctx *hcl.EvalContext, e hcl.Expression) []string {
	t.Helper()
	var out []string
	for _, v := range tfEval(t, ctx, e).AsValueSlice() {
		out = append(out, v.AsString())
	}
	return out
}

// refs lists the resources an expression refers to, as "type.name".
func refs(e hcl.Expression) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, tr := range e.Variables() {
		if len(tr) >= 2 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				out = append(out, tr.RootName()+"."+a.Name)
			}
		}
	}
	return out
}

// names evaluates a resource's name for each of its instances (for_each).
func names(t *testing.T, m *tfModule, b *hclsyntax.Block, nameAttr string) []string {
	t.Helper()
	fe := attr(b, "for_each")
	if fe == nil {
		return []string{tfEval(t, m.ctx, attr(b, nameAttr)).AsString()}
	}
	var out []string
	it := tfEval(t, m.ctx, fe).ElementIterator()
	for it.Next() {
		k, v := it.Element()
		ctx := m.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		out = append(out, tfEval(t, ctx, attr(b, nameAttr)).AsString())
	}
	return out
}

// tfInstance is one instance of a resource or data block (one per for_each
// key or count index), with the attributes that evaluate from the
// variables' defaults, the locals and other instances. What the provider
// computes (id, arn, url, member, ...) is a marker string naming the
// instance, "ADDR.ATTR", so that a reference resolves to the instance it
// names: aws_sqs_queue.dead_letters.arn evaluates to
// "aws_sqs_queue.dead_letters.arn".
type tfInstance struct {
	addr  string // aws_sqs_queue.dead_letters, google_pubsub_topic.stream["backfill"]
	block *hclsyntax.Block
	ctx   *hcl.EvalContext // the module's, with each or count, and the instances
	attrs map[string]cty.Value
}

// computedAttrs get a marker when the block does not set them.
var computedAttrs = []string{"id", "arn", "url", "name", "member", "email", "json", "number"}

// evalResources expands and evaluates every resource and data block. A few
// passes resolve references between instances (topic → subscription → IAM
// member; queue → policy document → policy).
func (m *tfModule) evalResources() {
	var insts []tfInstance
	for range 4 {
		ctx := m.instanceContext(insts)
		insts = nil
		for _, b := range m.blocks {
			if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
				insts = append(insts, expandInstances(ctx, b)...)
			}
		}
	}
	m.insts = insts
}

// instanceContext is m.ctx with every instance in insts as a reference
// (TYPE.NAME, TYPE.NAME[KEY], data.TYPE.NAME), and the locals evaluated
// again with them.
func (m *tfModule) instanceContext(insts []tfInstance) *hcl.EvalContext {
	type key struct{ mode, typ, name string }
	values := map[key]map[string]cty.Value{} // block → instance suffix → instance
	shape := map[key]string{}                // "", "for_each" or "count"
	for _, b := range m.blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
			k := key{b.Type, b.Labels[0], b.Labels[1]}
			values[k] = map[string]cty.Value{}
			switch {
			case attr(b, "for_each") != nil:
				shape[k] = "for_each"
			case attr(b, "count") != nil:
				shape[k] = "count"
			}
		}
	}
	for _, in := range insts {
		k := key{in.block.Type, in.block.Labels[0], in.block.Labels[1]}
		values[k][instanceKey(in.addr)] = cty.ObjectVal(in.attrs)
	}
	resources := map[string]map[string]cty.Value{} // type → name → value
	data := map[string]map[string]cty.Value{}
	for k, vs := range values {
		var v cty.Value
		switch shape[k] {
		case "for_each":
			v = cty.ObjectVal(vs)
		case "count":
			var list []cty.Value
			for i := range len(vs) {
				if iv, ok := vs[strconv.Itoa(i)]; ok {
					list = append(list, iv)
				}
			}
			v = cty.EmptyTupleVal
			if len(list) > 0 {
				v = cty.TupleVal(list)
			}
		default:
			var ok bool
			if v, ok = vs[""]; !ok {
				continue // did not evaluate
			}
		}
		into := resources
		if k.mode == "data" {
			into = data
		}
		if into[k.typ] == nil {
			into[k.typ] = map[string]cty.Value{}
		}
		into[k.typ][k.name] = v
	}
	ctx := &hcl.EvalContext{Variables: maps.Clone(m.ctx.Variables), Functions: m.ctx.Functions}
	for typ, byName := range resources {
		ctx.Variables[typ] = cty.ObjectVal(byName)
	}
	dataVals := map[string]cty.Value{}
	for typ, byName := range data {
		dataVals[typ] = cty.ObjectVal(byName)
	}
	ctx.Variables["data"] = cty.ObjectVal(dataVals)
	locals := map[string]cty.Value{}
	for _, b := range m.blocks {
		if b.Type != "locals" {
			continue
		}
		for name, a := range b.Body.Attributes {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
				locals[name] = v
			}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

// instanceKey is the for_each key or count index of an address, "" for
// none.
func instanceKey(addr string) string {
	i := strings.Index(addr, "[")
	if i < 0 {
		return ""
	}
	k := strings.TrimSuffix(addr[i+1:], "]")
	if u, err := strconv.Unquote(k); err == nil {
		return u
	}
	return k
}

// expandInstances evaluates block b once per instance in ctx. A block whose
// for_each or count does not evaluate has no instances.
func expandInstances(ctx *hcl.EvalContext, b *hclsyntax.Block) []tfInstance {
	addr := b.Labels[0] + "." + b.Labels[1]
	if b.Type == "data" {
		addr = "data." + addr
	}
	type each struct {
		suffix string
		vars   map[string]cty.Value
	}
	var eachs []each
	switch {
	case attr(b, "for_each") != nil:
		v, diags := attr(b, "for_each").Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.CanIterateElements() {
			return nil
		}
		set := v.Type().IsSetType()
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if set {
				k = val
			}
			if k.Type() != cty.String {
				return nil
			}
			eachs = append(eachs, each{fmt.Sprintf("[%q]", k.AsString()),
				map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}})
		}
	case attr(b, "count") != nil:
		v, diags := attr(b, "count").Value(ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
			return nil
		}
		n, _ := v.AsBigFloat().Int64()
		for i := range n {
			eachs = append(eachs, each{fmt.Sprintf("[%d]", i),
				map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})}})
		}
	default:
		eachs = []each{{}}
	}
	var out []tfInstance
	for _, e := range eachs {
		ictx := ctx
		if e.vars != nil {
			ictx = ctx.NewChild()
			ictx.Variables = e.vars
		}
		in := tfInstance{addr: addr + e.suffix, block: b, ctx: ictx, attrs: map[string]cty.Value{}}
		for name, a := range b.Body.Attributes {
			if name == "for_each" || name == "count" {
				continue
			}
			if v, diags := a.Expr.Value(ictx); !diags.HasErrors() && v.IsWhollyKnown() {
				in.attrs[name] = v
			}
		}
		for _, c := range computedAttrs {
			if _, ok := in.attrs[c]; !ok {
				in.attrs[c] = cty.StringVal(in.addr + "." + c)
			}
		}
		out = append(out, in)
	}
	return out
}

// instances returns the instances of resources (or data sources) of typ.
func (m *tfModule) instances(typ string) []tfInstance {
	var out []tfInstance
	for _, in := range m.insts {
		if in.block.Labels[0] == typ {
			out = append(out, in)
		}
	}
	return out
}

// s returns a string attribute ("" when unset or not a string).
func (in tfInstance) s(name string) string {
	v, ok := in.attrs[name]
	if !ok || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// nested evaluates an attribute of a nested block ("dead_letter_policy",
// "max_delivery_attempts") in the instance's context, as text; ok is false
// when the block or attribute is absent or does not evaluate.
func (in tfInstance) nested(blockType, name string) (string, bool) {
	b := in.block
	if blockType != "" {
		if b = block(in.block, blockType); b == nil {
			return "", false
		}
	}
	e := attr(b, name)
	if e == nil {
		return "", false
	}
	v, diags := e.Value(in.ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return "", false
	}
	return ctyText(v), true
}

// ctyText writes a known value as text: strings as they are, numbers in
// decimal, anything else as JSON.
func ctyText(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}

// settings evaluates the named attributes ("x" or "block.x") of an
// instance, for comparing two instances that should agree.
func (in tfInstance) settings(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		blk, a, ok := strings.Cut(n, ".")
		if !ok {
			blk, a = "", n
		}
		if v, ok := in.nested(blk, a); ok {
			out[n] = v
		} else {
			out[n] = "(unset)"
		}
	}
	return out
}

// diffSettings names what differs between two settings maps.
func diffSettings(a, b map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			out = append(out, fmt.Sprintf("%s %s vs %s", k, a[k], b[k]))
		}
	}
	return out
}
