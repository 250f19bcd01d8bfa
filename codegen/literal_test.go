package codegen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// TestEnumNames: every enum name a generated plan may spell
// (runtime.EpiAdd, runtime.U8, ...) is declared by package runtime.
func TestEnumNames(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "runtime", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						declared[n.Name] = true
					}
				}
			}
		}
	}
	n := 0
	for typ, names := range enumNames {
		for _, name := range names {
			n++
			if !declared[name] {
				t.Errorf("%v value %q: runtime declares no constant %s", typ, name, name)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d names", n)
	}
}
