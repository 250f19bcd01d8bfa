// Package gotmpl is the one convention for Go source that rnc or its tests write out (generated packages, runner programs, kernel test drivers): the source lives in an embedded .go.txt file, and the parts that vary are text/template actions.
//
// A file whose text never varies is embedded and written as it is. A file
// with varying parts is a text/template (default delimiters, so a Go
// composite literal that opens with "{{" is written {{"{{"}} in it), parsed
// once with Parse and executed with Execute. Check is what a test of each
// file asserts after instantiating it with representative values: the text
// is a Go file that parses and that gofmt leaves unchanged (which also
// catches a "{{" left unescaped: {{1}} would silently become 1).
package gotmpl

import (
	"bytes"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"text/template"
)

// Parse parses an embedded template; it panics on a malformed one (the
// templates are part of the program, and every one has a test).
func Parse(name, text string) *template.Template {
	return template.Must(template.New(name).Option("missingkey=error").Parse(text))
}

// Execute instantiates t with data.
func Execute(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("instantiating %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

// Check returns an error unless src (the file name) is a Go file that
// parses and is formatted as gofmt formats it.
func Check(name string, src []byte) error {
	if _, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments|parser.AllErrors); err != nil {
		return fmt.Errorf("%s does not parse: %w", name, err)
	}
	out, err := format.Source(src)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if !bytes.Equal(out, src) {
		return fmt.Errorf("%s is not gofmt-formatted: first difference at line %d", name, firstDiffLine(src, out))
	}
	return nil
}

// firstDiffLine is the 1-based line of a where a and b first differ.
func firstDiffLine(a, b []byte) int {
	line := 1
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == '\n' {
			line++
		}
	}
	return line
}
