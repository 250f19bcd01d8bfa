package codegen

import (
	"strings"
	"testing"
	"text/template"

	"github.com/rnc-dev/rnc/internal/gotmpl"
)

// TestTemplates instantiates every template of a generated file
// (templates/*.go.txt) with representative values: each gives a Go file
// that parses and that gofmt leaves as it is (before Generate formats it),
// with the values where they belong.
func TestTemplates(t *testing.T) {
	for _, c := range []struct {
		name string
		tm   *template.Template
		data any
		want []string // substrings of the instantiated file
	}{
		{"model_test.go", testTemplate, testFile{Header, "resnet50v2"},
			[]string{Header + "\n\npackage resnet50v2\n", "}{{2 * Classes, 0}, {"}},
	} {
		src, err := gotmpl.Execute(c.tm, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if err := gotmpl.Check(c.name, src); err != nil {
			t.Error(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(src), w) {
				t.Errorf("%s: no %q in\n%s", c.name, w, src)
			}
		}
	}
}
