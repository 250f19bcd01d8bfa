// Package gotmpl is the one convention for Go source that rnc or its tests write out (generated packages, runner programs, kernel test drivers): the source lives in an embedded .go.txt file, and the parts that vary are template actions.
//
// A file whose text never varies is embedded and written as it is. A file
// with varying parts is a template in text/template's syntax, restricted
// to what these files need: {{.Field}} and {{.Field.Sub}} (a struct
// field's value as fmt prints it), {{printf "format" .Field ...}},
// {{if .Field}}...{{end}} (the block when the field is not its type's zero
// value) and string literals ({{"{{"}} writes "{{", for a Go composite
// literal that opens with two braces). It is parsed once with Parse and
// executed with Execute. Check is what a test of each file asserts after
// instantiating it with representative values: the text is a Go file that
// parses and that gofmt leaves unchanged (which also catches a "{{" left
// unescaped).
//
// Why not text/template itself: it calls methods by reflection, which
// makes the linker keep every exported method of every type in the
// program — with avo's instruction builders, 6.7 MB more in the rnc
// binary (TestNoTextTemplate). This engine reads struct fields only.
package gotmpl

import (
	"bytes"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
)

// A Template is a parsed template.
type Template struct {
	name  string
	nodes []node
}

// Name is the template's name (its file).
func (t *Template) Name() string { return t.name }

// A node is literal text, an action, or an if block.
type node struct {
	text   string     // literal text (no action)
	format string     // printf's format ("" for a plain value)
	args   [][]string // field paths (printf's arguments, or the one value)
	lit    *string    // a string literal action
	cond   []string   // if: the field path
	body   []node     // if: the block
}

// Parse parses an embedded template; it panics on a malformed one (the
// templates are part of the program, and every one has a test).
func Parse(name, text string) *Template {
	nodes, rest, err := parse(text, false)
	if err == nil && rest != "" {
		err = fmt.Errorf("{{end}} without {{if}}")
	}
	if err != nil {
		panic(fmt.Sprintf("gotmpl: %s: %v", name, err))
	}
	return &Template{name, nodes}
}

// parse reads nodes up to the end of text or, in a block, up to its
// {{end}}; rest is what follows the {{end}}.
func parse(text string, block bool) (nodes []node, rest string, err error) {
	for text != "" {
		i := strings.Index(text, "{{")
		if i < 0 {
			nodes = append(nodes, node{text: text})
			text = ""
			break
		}
		if i > 0 {
			nodes = append(nodes, node{text: text[:i]})
		}
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed action %.20q", text[i:])
		}
		action := strings.TrimSpace(text[i+2 : i+j])
		text = text[i+j+2:]
		switch f := fields(action); {
		case action == "end":
			if !block {
				return nil, "", fmt.Errorf("{{end}} without {{if}}")
			}
			return nodes, text, nil
		case len(f) == 2 && f[0] == "if":
			p, err := path(f[1])
			if err != nil {
				return nil, "", err
			}
			body, after, err := parse(text, true)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, node{cond: p, body: body})
			text = after
		case len(f) >= 2 && f[0] == "printf":
			format, err := strconv.Unquote(f[1])
			if err != nil {
				return nil, "", fmt.Errorf("printf's format %s: %v", f[1], err)
			}
			n := node{format: format}
			for _, a := range f[2:] {
				p, err := path(a)
				if err != nil {
					return nil, "", err
				}
				n.args = append(n.args, p)
			}
			nodes = append(nodes, n)
		case len(f) == 1 && strings.HasPrefix(action, `"`):
			s, err := strconv.Unquote(action)
			if err != nil {
				return nil, "", fmt.Errorf("action {{%s}}: %v", action, err)
			}
			nodes = append(nodes, node{lit: &s})
		case len(f) == 1:
			p, err := path(action)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, node{args: [][]string{p}})
		default:
			return nil, "", fmt.Errorf("unsupported action {{%s}}", action)
		}
	}
	if block {
		return nil, "", fmt.Errorf("{{if}} without {{end}}")
	}
	return nodes, "", nil
}

// fields splits an action into words, keeping a quoted string whole.
func fields(action string) []string {
	var out []string
	for action = strings.TrimSpace(action); action != ""; action = strings.TrimSpace(action) {
		if action[0] == '"' {
			end := 1
			for end < len(action) && action[end] != '"' {
				if action[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end+1, len(action))
			out = append(out, action[:end])
			action = action[end:]
			continue
		}
		w, rest, _ := strings.Cut(action, " ")
		out = append(out, w)
		action = rest
	}
	return out
}

// path parses ".A.B" into [A B].
func path(s string) ([]string, error) {
	if !strings.HasPrefix(s, ".") || len(s) < 2 {
		return nil, fmt.Errorf("want a field such as .Name, got %q", s)
	}
	return strings.Split(s[1:], "."), nil
}

// Execute instantiates t with data, a struct or a pointer to one.
func Execute(t *Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := run(&b, t.nodes, reflect.ValueOf(data)); err != nil {
		return nil, fmt.Errorf("instantiating %s: %w", t.name, err)
	}
	return b.Bytes(), nil
}

func run(b *bytes.Buffer, nodes []node, data reflect.Value) error {
	for _, n := range nodes {
		switch {
		case n.lit != nil:
			b.WriteString(*n.lit)
		case n.cond != nil:
			v, err := field(data, n.cond)
			if err != nil {
				return err
			}
			if !v.IsZero() {
				if err := run(b, n.body, data); err != nil {
					return err
				}
			}
		case n.args != nil:
			var vals []any
			for _, p := range n.args {
				v, err := field(data, p)
				if err != nil {
					return err
				}
				vals = append(vals, v.Interface())
			}
			if n.format != "" {
				fmt.Fprintf(b, n.format, vals...)
			} else {
				fmt.Fprint(b, vals[0])
			}
		default:
			b.WriteString(n.text)
		}
	}
	return nil
}

// field follows a field path from data.
func field(data reflect.Value, p []string) (reflect.Value, error) {
	v := data
	for _, name := range p {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return reflect.Value{}, fmt.Errorf("field .%s of a nil value", strings.Join(p, "."))
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("field .%s: %s is not a struct", strings.Join(p, "."), v.Type())
		}
		f := v.FieldByName(name)
		if !f.IsValid() {
			return reflect.Value{}, fmt.Errorf("%s has no field %s (in .%s)", v.Type(), name, strings.Join(p, "."))
		}
		v = f
	}
	return v, nil
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
