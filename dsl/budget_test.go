package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// loadErr loads m.rn from files (with lib.rn) and returns the error.
func loadErr(t *testing.T, files map[string]string, set map[string]string) string {
	t.Helper()
	if _, ok := files["lib.rn"]; !ok {
		files["lib.rn"] = lib
	}
	_, err := Load("m.rn", Options{Set: set, ReadFile: memFS(files)})
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestBudgets: a source that would run away with time or memory stops at
// a budget, with an error naming it and where it ran out.
func TestBudgets(t *testing.T) {
	cases := []struct{ name, src, want string }{
		// Each [s, s] doubles the value, sharing s: 28 of them hung in
		// show and ==. Counting each list's elements and theirs stops it.
		{"value: shared doubling", "model m() {\n    s = [1]\n" + strings.Repeat("    s = [s, s]\n", 28) + "    return s\n}\n",
			"m.rn:23:9: value budget exceeded: the lists and strings built hold more than 10000000 elements in all"},
		{"value: list concatenation", "model m() {\n    l = [0]\n    for i in 1 .. 15 { l = l + l }\n    for i in 1 .. 1000000 { k = l + l }\n    return l\n}\n",
			"m.rn:4:35: value budget exceeded: the lists and strings built hold more than 10000000 elements in all"},
		{"value: string concatenation", "model m() {\n    s = 'ab'\n    for i in 1 .. 10 { s = s + s }\n    for i in 1 .. 1000000 { k = s + s }\n    return s\n}\n",
			"m.rn:4:35: value budget exceeded: the lists and strings built hold more than 10000000 elements in all"},
		{"value: nested", "model m() {\n    l = []\n    for i in 1 .. 100000 { l = [l] }\n    return l\n}\n",
			"m.rn:3:32: value budget exceeded: the lists and strings built hold more than 10000000 elements in all"},
		// == walks both lists: its elements are work.
		{"work: ==", "model m() {\n    s = [1]\n    for i in 1 .. 20 { s = [s, s] }\n    for i in 1 .. 1000000 { k = s == s }\n    return 1\n}\n",
			"m.rn:4:33: work budget exceeded: expansion takes more than 10000000 steps; is a loop too long?"},
		{"work: max", "model m() {\n    l = [0]\n    for i in 1 .. 16 { l = l + l }\n    for i in 1 .. 1000000 { k = max(l) }\n    return 1\n}\n",
			"m.rn:4:33: work budget exceeded: expansion takes more than 10000000 steps; is a loop too long?"},
		{"layers", "model m() {\n    x = Input(shape = [4])\n    for i in 1 .. 30000 { x = Dense(x, 1) }\n    return x\n}\n",
			"m.rn:3:31: layer budget exceeded: the model has more than 20000 layers"},
		{"shape: output", "model m() {\n    x = Input(shape = [64, 64, 3])\n    return Conv2D(x, 1000000, 3)\n}\n",
			"m.rn:3:12: Conv2D conv2d: shape budget exceeded: the output (None, 62, 62, 1000000) holds more than 1073741824 elements"},
		{"shape: weight", "model m() {\n    x = Input(shape = [1048576])\n    return Dense(x, 2048)\n}\n",
			"m.rn:3:12: Dense dense: shape budget exceeded: the kernel [1048576 2048] holds more than 1073741824 elements"},
		{"shape: input", "model m() {\n    return Input(shape = [1048576, 1048576, 3])\n}\n",
			"m.rn:2:12: Input input_1: shape budget exceeded: the output (None, 1048576, 1048576, 3) holds more than 1073741824 elements"},
		// A message shows at most about 200 bytes of a value.
		{"show", "model m() {\n    s = [1]\n    for i in 1 .. 15 { s = [s, s] }\n    if s { }\n    return 1\n}\n",
			"m.rn:4:8: if condition must be a bool, got list [[[[[[[[[[[[[[[[1], [1]], [[1], [1]]], [[[1], [1]], [[1], [1]]]], [[[[1], [1]], [[1], [1]]], [[[1], [1]], [[1], [1]]]]], [[[[[1], [1]], [[1], [1]]], [[[1], [1]], [[1], [1]]]], [[[[1], [1]], [[1], [1]]..."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := loadErr(t, map[string]string{"m.rn": c.src}, nil); got != c.want {
				t.Errorf("error\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

// TestNesting: the parser counts every construct it recurses on, the
// expander every one it recurses on (across macro calls too), and imports
// count as levels of their own; prefix operators are loops, not levels.
func TestNesting(t *testing.T) {
	const deep = "nesting deeper than 1000 levels of brackets, blocks and else-if chains"
	body := func(s string) string { return "model m() {\n    " + s + "\n}\n" }
	cases := []struct{ name, src, want string }{
		// the body's { is level 1, so the 1000th bracket is level 1001
		{"parentheses", body("x = " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)), "m.rn:2:1008: syntax error: " + deep},
		{"lists", body("x = " + strings.Repeat("[", 1000) + strings.Repeat("]", 1000)), "m.rn:2:1008: syntax error: " + deep},
		{"indexes", body("x = y" + strings.Repeat("[y", 1000) + strings.Repeat("]", 1000)), "m.rn:2:2008: syntax error: " + deep},
		{"calls", body("x = " + strings.Repeat("f(", 1000) + strings.Repeat(")", 1000)), "m.rn:2:2008: syntax error: " + deep},
		{"blocks", body(strings.Repeat("if x {", 1000) + strings.Repeat("}", 1000)), "m.rn:2:6004: syntax error: " + deep},
		{"for", body(strings.Repeat("for i in 1..1 {", 1000) + strings.Repeat("}", 1000)), "m.rn:2:15004: syntax error: " + deep},
		{"else-if chain", body("if x {}" + strings.Repeat(" else if x {}", 999)), "m.rn:2:12997: syntax error: " + deep},
		{"mixed", body("x = " + strings.Repeat("-(not [f(y[", 250) + "0" + strings.Repeat("])])", 250)), "m.rn:2:2758: syntax error: " + deep},
		{"parameter default", "macro f(x = " + strings.Repeat("(", 1000) + ") {}", "m.rn:1:1012: syntax error: " + deep},
		{"deep but legal", body("x = " + strings.Repeat("(", 998) + "1" + strings.Repeat(")", 998) + "\n    return x"),
			"m.rn:1:1: model m returns 1; want a tensor, a list of tensors or Model(inputs, outputs)"},
		// a million prefix operators: a count, not a recursion
		{"minus", body("x = " + strings.Repeat("-", 1000001) + "1\n    return x"),
			"m.rn:1:1: model m returns -1; want a tensor, a list of tensors or Model(inputs, outputs)"},
		{"not", body("x = " + strings.Repeat("not ", 200000) + "false\n    return x"),
			"m.rn:1:1: model m returns false; want a tensor, a list of tensors or Model(inputs, outputs)"},
		// each file nests 401 levels: fine for the parser, too deep across
		// the calls
		{"macro calls", "macro a(x) { return " + strings.Repeat("(", 400) + "x" + strings.Repeat(")", 400) + " }\n" +
			"macro b(x) { return " + strings.Repeat("(", 400) + "a(x)" + strings.Repeat(")", 400) + " }\n" +
			body("return "+strings.Repeat("(", 400)+"b(1)"+strings.Repeat(")", 400)),
			"m.rn:1:216: nesting deeper than 1000 levels of brackets, blocks, else-if chains and macro calls\n\tin a called at m.rn:2:421\n\tin b called at m.rn:4:412"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := loadErr(t, map[string]string{"m.rn": c.src}, nil); got != c.want {
				t.Errorf("error\n got: %.500s\nwant: %s", got, c.want)
			}
		})
	}
	t.Run("imports", func(t *testing.T) {
		files := map[string]string{"m.rn": "import \"f1.rn\"\n" + body("return 1")}
		for i := 1; i <= 1001; i++ {
			files[fmt.Sprintf("f%d.rn", i)] = fmt.Sprintf("import \"f%d.rn\"\n", i+1)
		}
		want := `f1000.rn:1:1: cannot import "f1001.rn": imports nested deeper than 1000 levels`
		if got := loadErr(t, files, nil); got != want {
			t.Errorf("error\n got: %s\nwant: %s", got, want)
		}
	})
	t.Run("--set", func(t *testing.T) {
		want := "--set classes:1:2002: syntax error: " + deep
		if got := loadErr(t, map[string]string{"m.rn": model("    return x")}, map[string]string{"classes": strings.Repeat("-[", 2000)}); got != want {
			t.Errorf("error\n got: %s\nwant: %s", got, want)
		}
	})
}

// TestSourceBudget: no source file above 1 MiB, nor a model with its
// imports; special files refused before they are read.
func TestSourceBudget(t *testing.T) {
	big := "# " + strings.Repeat("a", maxSource) + "\n"
	half := "# " + strings.Repeat("a", maxSource/2) + "\n"
	small := model("    return x")
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"model", map[string]string{"m.rn": big}, "reading model: source budget exceeded: m.rn is 1048579 bytes, more than 1048576"},
		{"import", map[string]string{"m.rn": "import \"big.rn\"\n" + small, "big.rn": big},
			`m.rn:1:1: cannot import "big.rn": source budget exceeded: big.rn is 1048579 bytes, more than 1048576`},
		{"all together", map[string]string{"m.rn": "import \"a.rn\"\nimport \"b.rn\"\n" + small, "a.rn": half, "b.rn": half},
			`m.rn:2:1: cannot import "b.rn": source budget exceeded: the model and its imports are more than 1048576 bytes`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := loadErr(t, c.files, nil); got != c.want {
				t.Errorf("error\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
	t.Run("files", func(t *testing.T) {
		files := map[string]string{}
		var imports strings.Builder
		for i := 1; i <= maxFiles; i++ {
			fmt.Fprintf(&imports, "import \"e%d.rn\"\n", i)
			files[fmt.Sprintf("e%d.rn", i)] = ""
		}
		files["m.rn"] = imports.String() + small
		want := `m.rn:10000:1: cannot import "e10000.rn": source budget exceeded: the model and its imports are more than 10000 files`
		if got := loadErr(t, files, nil); got != want {
			t.Errorf("error\n got: %s\nwant: %s", got, want)
		}
	})
}

// TestReadFile: the default reader reads regular files of at most 1 MiB;
// /dev/zero, a FIFO and a directory are errors, at once.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.rn")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := write("big.rn", "#"+strings.Repeat("a", maxSource))
	for _, c := range []struct{ imp, want string }{
		{"/dev/zero", `cannot import "/dev/zero": /dev/zero is a character device, not a regular file`},
		{fifo, fmt.Sprintf("cannot import %q: %s is a named pipe, not a regular file", fifo, fifo)},
		{dir, fmt.Sprintf("cannot import %q: %s is a directory, not a regular file", dir, dir)},
		{big, fmt.Sprintf("cannot import %q: source budget exceeded: %s is 1048577 bytes, more than 1048576", big, big)},
	} {
		m := write("m.rn", fmt.Sprintf("import %q\n%s", c.imp, model("    return x")))
		_, err := Load(m, Options{})
		if want := m + ":1:1: " + c.want; err == nil || err.Error() != want {
			t.Errorf("import %s:\n got: %v\nwant: %s", c.imp, err, want)
		}
	}
	if _, err := Load("/dev/zero", Options{}); err == nil || err.Error() != "reading model: /dev/zero is a character device, not a regular file" {
		t.Errorf("model /dev/zero: %v", err)
	}
	if _, err := Load(big, Options{}); err == nil || err.Error() != "reading model: source budget exceeded: "+big+" is 1048577 bytes, more than 1048576" {
		t.Errorf("model too big: %v", err)
	}
	write("lib.rn", lib)
	g, err := Load(write("ok.rn", "import \"lib.rn\"\n"+model("    return conv_bn(x, 4, name = \"c\")")), Options{})
	if err != nil || len(g.Ops) != 3 {
		t.Errorf("a regular model: %v", err)
	}
}
