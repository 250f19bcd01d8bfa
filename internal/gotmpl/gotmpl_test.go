package gotmpl

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		src, err string // err: "" for none, else a substring of the error
	}{
		{"package p\n\nvar x = []struct{ a int }{{1}}\n", ""},
		{"package p\n\nfunc f() {\n", "does not parse"},
		{"package p\nvar x = 1\n", "not gofmt-formatted: first difference at line 2"},
		{"package p\n\nvar x=1\n", "not gofmt-formatted: first difference at line 3"},
		{"// no package clause\n", "does not parse"},
	} {
		err := Check("f.go", []byte(c.src))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("Check(%q): %v", c.src, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Check(%q) = %v, want an error with %q", c.src, err, c.err)
		}
	}
}

func TestTemplate(t *testing.T) {
	tm := Parse("t.go.txt", "package {{.Package}}\n\nvar x = []struct{ a int }{{\"{{\"}}1}}\n")
	out, err := Execute(tm, struct{ Package string }{"p"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "package p\n\nvar x = []struct{ a int }{{1}}\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if err := Check("t.go", out); err != nil {
		t.Error(err)
	}
	// A field the data lacks is an error naming the template, not "<no value>".
	if _, err := Execute(tm, struct{ Pkg string }{"p"}); err == nil || !strings.Contains(err.Error(), "t.go.txt") {
		t.Errorf("missing field: error %v", err)
	}
	if _, err := Execute(tm, map[string]string{}); err == nil {
		t.Error("missing map key: no error")
	}
	defer func() {
		if recover() == nil {
			t.Error("Parse of a malformed template did not panic")
		}
	}()
	Parse("bad", "var x = []T{{2 * n, 0}}")
}

// TestEngine: fields, nested fields, printf, if blocks, literals, and the
// errors: a missing field, an unsupported action, an unclosed if.
func TestEngine(t *testing.T) {
	type inner struct{ Mode string }
	data := struct {
		A    int
		On   bool
		Off  string
		Prep inner
	}{A: 7, On: true, Prep: inner{"tf"}}
	tm := Parse("e", `a={{.A}} {{if .On}}on{{if .Off}}off{{end}}{{end}} {{printf "%q/%d" .Prep.Mode .A}} {{"{{"}}x}}`)
	out, err := Execute(tm, &data)
	if err != nil {
		t.Fatal(err)
	}
	if want := `a=7 on "tf"/7 {{x}}`; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := Execute(Parse("m", "{{.Prep.Nope}}"), data); err == nil || !strings.Contains(err.Error(), "has no field Nope") {
		t.Errorf("missing nested field: %v", err)
	}
	for _, bad := range []string{"{{if .On}}x", "x{{end}}", "{{range .A}}{{end}}", "{{.}}", "{{A}}", "{{printf %q .A}}", "{{.A"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Parse(%q) did not panic", bad)
				}
			}()
			Parse("bad", bad)
		}()
	}
}
