package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// module is a Terraform module's .tf files, parsed the way Terraform
// parses them (native HCL syntax), without Terraform.
type module struct {
	dir    string
	files  map[string][]byte // by path
	blocks []*hclsyntax.Block
}

func loadModule(t *testing.T, dir string) *module {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no .tf files in %s", dir)
	}
	m := &module{dir: dir, files: make(map[string][]byte)}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("parse: %s", diags)
		}
		m.files[p] = src
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
	}
	return m
}

// all returns the top-level blocks of a type whose labels start with
// labels.
func (m *module) all(typ string, labels ...string) []*hclsyntax.Block {
	var found []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ && len(b.Labels) >= len(labels) && strings.Join(b.Labels[:len(labels)], ".") == strings.Join(labels, ".") {
			found = append(found, b)
		}
	}
	return found
}

// one returns the only top-level block of a type with exactly these
// labels, failing the test if there is none.
func (m *module) one(t *testing.T, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	for _, b := range m.all(typ, labels...) {
		if len(b.Labels) == len(labels) {
			return b
		}
	}
	t.Fatalf("%s: no %s %q", m.dir, typ, labels)
	return nil
}

// nested returns the only block of a type directly inside b.
func nested(t *testing.T, b *hclsyntax.Block, typ string) *hclsyntax.Block {
	t.Helper()
	var found []*hclsyntax.Block
	for _, n := range b.Body.Blocks {
		if n.Type == typ {
			found = append(found, n)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s %q: %d %s blocks, want 1", b.Type, b.Labels, len(found), typ)
	}
	return found[0]
}

func attr(t *testing.T, b *hclsyntax.Block, name string) hclsyntax.Expression {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s %q has no %s", b.Type, b.Labels, name)
	}
	return a.Expr
}

// scope is what an expression is evaluated with: the module's variables
// (their defaults, overridden by vars), path.module, local values, stand-ins
// for the attributes of other resources, and the Terraform functions the
// modules use.
func (m *module) scope(t *testing.T, vars map[string]cty.Value, resources map[string]cty.Value) *hcl.EvalContext {
	t.Helper()
	varVals := make(map[string]cty.Value)
	for _, b := range m.all("variable") {
		v := cty.DynamicVal
		if a, ok := b.Body.Attributes["default"]; ok {
			var diags hcl.Diagnostics
			if v, diags = a.Expr.Value(nil); diags.HasErrors() {
				t.Fatalf("variable %s: default: %s", b.Labels[0], diags)
			}
		}
		varVals[b.Labels[0]] = v
	}
	for name, v := range vars {
		if _, ok := varVals[name]; !ok {
			t.Fatalf("%s: no variable %q", m.dir, name)
		}
		varVals[name] = v
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(varVals),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.dir)}),
		},
		Functions: map[string]function.Function{
			"can":          tryfunc.CanFunc,
			"coalesce":     stdlib.CoalesceFunc,
			"file":         fileFunc,
			"length":       stdlib.LengthFunc,
			"regex":        stdlib.RegexFunc,
			"sort":         stdlib.SortFunc,
			"templatefile": templatefileFunc,
		},
	}
	for name, v := range resources {
		ctx.Variables[name] = v
	}
	// Locals may refer to each other and to resources not given; what
	// cannot be evaluated stays unknown.
	locals := make(map[string]cty.Value)
	for _, b := range m.all("locals") {
		for name := range b.Body.Attributes {
			locals[name] = cty.DynamicVal
		}
	}
	for range 3 {
		ctx.Variables["local"] = cty.ObjectVal(locals)
		for _, b := range m.all("locals") {
			for name, a := range b.Body.Attributes {
				if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
					locals[name] = v
				}
			}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

func eval(t *testing.T, ctx *hcl.EvalContext, expr hclsyntax.Expression) cty.Value {
	t.Helper()
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("evaluate %s: %s", hclRange(expr), diags)
	}
	return v
}

func hclRange(expr hclsyntax.Expression) string {
	r := expr.Range()
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}

// fileFunc is Terraform's file(path).
var fileFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		src, err := os.ReadFile(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(string(src)), nil
	},
})

// templatefileFunc is Terraform's templatefile(path, vars): the template
// sees only vars, and a reference to anything else is an error.
var templatefileFunc = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "path", Type: cty.String},
		{Name: "vars", Type: cty.DynamicPseudoType},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		path := args[0].AsString()
		src, err := os.ReadFile(path)
		if err != nil {
			return cty.NilVal, err
		}
		tmpl, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
		if diags.HasErrors() {
			return cty.NilVal, diags
		}
		v, diags := tmpl.Value(&hcl.EvalContext{Variables: args[1].AsValueMap()})
		if diags.HasErrors() {
			return cty.NilVal, diags
		}
		return v, nil
	},
})
