package dsl

import (
	"os"
	"strings"
	"testing"
)

// memFS serves sources from a map, for tests and fuzzing.
func memFS(files map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		if s, ok := files[path]; ok {
			return []byte(s), nil
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
	}
}

// lib is a small macro library the error cases import.
const lib = `macro conv_bn(x, filters, stride = 1, name = none) {
    x = Conv2D(x, filters, 3, strides = stride, padding = "same", name = name + "_conv")
    return BatchNormalization(x, name = name + "_bn")
}
macro loop_a(x) { return loop_b(x) }
macro loop_b(x) { return loop_a(x) }
macro pick(x, kind) {
    if kind != "a" { error("kind must be a, got " + kind) }
    return x
}
`

func model(body string) string {
	return "import \"lib.rn\"\nmodel m(input_shape = [8, 8, 3], classes = 4) {\n    x = Input(shape = input_shape)\n" + body + "\n}\n"
}

// TestErrors: every mistake a user can make gives file:line:col, the
// offending text and what was expected — compared as exact strings.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, src string
		set       map[string]string
		want      string
	}{
		{"syntax", "model m() {\n    x = Input(shape = [8, 8, 3]\n}\n",
			nil, `m.rn:3:1: syntax error: unexpected token "}" (expected "," or ")")`},
		{"syntax bad token", "model m() { x = 3 $ 4 }\n",
			nil, `m.rn:1:19: syntax error: lexer: invalid input text "$ 4 }\n"`},
		{"unknown macro", model("    x = bottlenek(x, 4)\n    return x"),
			nil, `m.rn:4:9: unknown macro or builtin "bottlenek"`},
		{"unknown builtin argument", model("    x = Conv2D(x, 4, 3, stride = 2)\n    return x"),
			nil, `m.rn:4:25: Conv2D has no parameter "stride" (it has: x, filters, kernel_size, strides, padding, use_bias, activation, dilation_rate, groups, name)`},
		{"missing argument", model("    x = conv_bn(x, name = \"a\")\n    return x"),
			nil, `m.rn:4:9: missing argument "filters" in call of conv_bn`},
		{"missing builtin argument", model("    x = Conv2D(x, 4)\n    return x"),
			nil, `m.rn:4:9: missing argument "kernel_size" in call of Conv2D`},
		{"extra argument", model("    x = conv_bn(x, 4, 1, \"a\", 5)\n    return x"),
			nil, `m.rn:4:31: too many arguments to conv_bn: it takes 4`},
		{"duplicate argument", model("    x = conv_bn(x, 4, filters = 8, name = \"a\")\n    return x"),
			nil, `m.rn:4:23: argument "filters" of conv_bn given twice`},
		{"unknown macro parameter", model("    x = conv_bn(x, 4, nme = \"a\")\n    return x"),
			nil, `m.rn:4:23: conv_bn has no parameter "nme"`},
		{"wrong type", model("    x = Conv2D(x, \"four\", 3)\n    return x"),
			nil, `m.rn:4:19: Conv2D: filters must be an int, got string "four"`},
		{"error builtin", model("    x = error(\"no such model: \" + str(3))\n    return x"),
			nil, `m.rn:4:9: no such model: 3`},
		{"error builtin in macro", model("    x = pick(x, \"b\")\n    return x"),
			nil, "lib.rn:8:22: kind must be a, got b\n\tin pick called at m.rn:4:9"},
		{"error builtin wrong type", model("    x = error(3)\n    return x"),
			nil, `m.rn:4:15: error: message must be a string, got int 3`},
		{"nesting", model("    n = " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000) + "\n    return x"),
			nil, `m.rn:4:1008: syntax error: nesting deeper than 1000 levels of brackets, blocks and else-if chains`},
		{"else-if chain", model("    if false {}" + strings.Repeat(" else if false {}", 1000) + "\n    return x"),
			nil, `m.rn:4:16997: syntax error: nesting deeper than 1000 levels of brackets, blocks and else-if chains`},
		{"nesting in --set", model("    return x"), map[string]string{"classes": strings.Repeat("[", 2000)},
			`--set classes:1:1001: syntax error: nesting deeper than 1000 levels of brackets, blocks and else-if chains`},
		{"deep but legal", model("    n = " + strings.Repeat("(", 990) + "1" + strings.Repeat(")", 990) + "\n    return n"),
			nil, `m.rn:2:1: model m returns 1; want a tensor, a list of tensors or Model(inputs, outputs)`},
		{"wrong type in macro", model("    x = conv_bn(x, 4.5, name = \"a\")\n    return x"),
			nil, "lib.rn:2:19: Conv2D: filters must be an int, got float 4.5\n\tin conv_bn called at m.rn:4:9"},
		{"string plus float", model("    x = Conv2D(x, 4, 3, name = \"c\" + 1.5)\n    return x"),
			nil, `m.rn:4:36: cannot add float 1.5 to a string`},
		{"recursion", model("    x = loop_a(x)\n    return x"),
			nil, "lib.rn:6:26: recursive call of macro loop_a (loop_a → loop_b → loop_a)\n\tin loop_b called at lib.rn:5:26\n\tin loop_a called at m.rn:4:9"},
		{"add shape mismatch", model("    a = Conv2D(x, 4, 1, name = \"a\")\n    b = Conv2D(x, 8, 1, name = \"b\")\n    return Add([a, b], name = \"sum\")"),
			nil, `m.rn:6:12: Add sum: inputs have different shapes: a (None, 8, 8, 4) and b (None, 8, 8, 8)`},
		{"duplicate layer name", model("    x = Conv2D(x, 4, 1, name = \"c\")\n    x = Conv2D(x, 4, 1, name = \"c\")\n    return x"),
			nil, `m.rn:5:9: Conv2D: duplicate layer name "c" (first used at m.rn:4:9)`},
		{"stride does not fit", model("    x = Conv2D(x, 4, 3, strides = 0)\n    return x"),
			nil, `m.rn:4:9: Conv2D conv2d: strides must be positive, got 0x0`},
		{"kernel does not fit", model("    x = Conv2D(x, 4, 9, name = \"big\")\n    return x"),
			nil, `m.rn:4:9: Conv2D big: kernel 9x9 does not fit the input_1 input 8x8 (padded 8x8)`},
		{"pool does not fit", model("    for i in 1 .. 3 { x = MaxPooling2D(x, 3, strides = 2) }\n    return x"),
			nil, `m.rn:4:27: MaxPooling2D max_pooling2d_2: pool size 3x3 does not fit the max_pooling2d_1 input 1x1 (padded 1x1)`},
		{"undefined name", model("    return y"),
			nil, `m.rn:4:12: undefined name "y"`},
		{"bad padding", model("    x = Conv2D(x, 4, 3, padding = \"full\")\n    return x"),
			nil, `m.rn:4:25: Conv2D: padding must be 'valid' or 'same', got "full"`},
		{"bad activation", model("    x = Activation(x, \"gelu\")\n    return x"),
			nil, `m.rn:4:23: Activation: unknown activation "gelu" (want 'relu', 'sigmoid', 'softmax' or 'linear')`},
		{"if not bool", model("    if 1 { x = x }\n    return x"),
			nil, `m.rn:4:8: if condition must be a bool, got int 1`},
		{"no return", "model m() {\n    x = Input(shape = [4, 4, 3])\n}\n",
			nil, `m.rn:1:1: model m does not return its output`},
		{"no model", "macro f(x) { return x }\n",
			nil, `m.rn:1:1: no model declaration (want ` + "`model name(params) { ... }`" + `)`},
		{"missing import", "import \"nope.rn\"\nmodel m() { return 1 }\n",
			nil, `m.rn:1:1: cannot import "nope.rn": file does not exist`},
		{"macro redefined", "import \"lib.rn\"\nmacro conv_bn(x) { return x }\nmodel m() { return 1 }\n",
			nil, `m.rn:2:1: macro conv_bn is already defined at lib.rn:1:1`},
		{"index out of range", model("    s = [1, 2]\n    return Conv2D(x, s[2], 1)"),
			nil, `m.rn:5:24: index 2 out of range for a list of 2`},
		{"division by zero", model("    n = 4 // 0\n    return x"),
			nil, `m.rn:4:11: division by zero`},
		{"loop too long", model("    for i in 0 .. 100000000 { }\n    return x"),
			nil, `m.rn:4:5: work budget exceeded: expansion takes more than 10000000 steps; is a loop too long?`},
		{"bad layer name", model("    return Conv2D(x, 4, 1, name = \"a b\")"),
			nil, `m.rn:4:28: Conv2D: invalid layer name "a b": use letters, digits, '_', '.' and '-'`},
		{"set unknown parameter", model("    return x"),
			map[string]string{"clases": "10"}, `--set clases: model m has no parameter "clases" (it has: input_shape, classes)`},
		{"set bad shape", model("    return x"),
			map[string]string{"input_shape": "[8, 8]"}, `m.rn:3:15: Input: shape must be a list [height, width, channels] (or [features]), got list [8, 8]`},
		{"returns a number", "model m() { return 1 }\n",
			nil, `m.rn:1:1: model m returns 1; want a tensor, a list of tensors or Model(inputs, outputs)`},
		// Unused expression statements: reported when the file loads, in
		// every branch, with a hint.
		{"unused comparison", model("    stride = 1\n    stride == 2\n    return x"),
			nil, `m.rn:5:5: the value of this expression is unused (did you mean "stride = 2"?)`},
		{"unused comparison in a branch not taken", model("    if false {\n        for i in 1 .. 2 { s == [1, \"a\", x.shape[-1] * 2] }\n    }\n    return x"),
			nil, `m.rn:5:27: the value of this expression is unused (did you mean "s = [1, \"a\", x.shape[-1] * 2]"?)`},
		{"unused comparison with a bad literal", model("    n = 1\n    n == 99999999999999999999\n    return x"),
			nil, `m.rn:5:5: the value of this expression is unused (did you mean "n = 99999999999999999999"?)`},
		{"unused comparison in a macro", "macro f(x, stride = 1) {\n    if stride > 1 { } else { stride == 2 }\n    return x\n}\n" + model("    return f(x)"),
			nil, `m.rn:2:30: the value of this expression is unused (did you mean "stride = 2"?)`},
		{"unused other comparison", model("    x != 2\n    return x"),
			nil, `m.rn:4:5: the value of this expression is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused sum", model("    x + 1\n    return x"),
			nil, `m.rn:4:5: the value of this expression is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused name", model("    x\n    return x"),
			nil, `m.rn:4:5: the value of this expression is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused list", model("    if true { [x, x] }\n    return x"),
			nil, `m.rn:4:15: the value of this expression is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused attribute", model("    x.shape\n    return x"),
			nil, `m.rn:4:5: the value of this expression is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused helper call", model("    len(input_shape)\n    return x"),
			nil, `m.rn:4:5: the value of this call of len is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused Model", model("    (Model(x, x))\n    return x"),
			nil, `m.rn:4:5: the value of this call of Model is unused (did you mean to assign it, "name = ...", or to return it?)`},
		{"unused in a library", "import \"bad.rn\"\nmodel m() { return 1 }\n",
			nil, `bad.rn:1:14: the value of this expression is unused (did you mean "a = 1e-05"?)`},
		// Attributes: a tensor has .shape, nothing else has any.
		{"unknown tensor attribute", model("    n = x.size\n    return x"),
			nil, `m.rn:4:11: tensor input_1 (None, 8, 8, 3) has no attribute "size" (a tensor has one: shape)`},
		{"attribute of a list", model("    n = input_shape.shape\n    return x"),
			nil, `m.rn:4:21: list [8, 8, 3] has no attribute "shape"`},
		{"attribute of an attribute", model("    n = x.shape.shape\n    return x"),
			nil, `m.rn:4:17: list [none, 8, 8, 3] has no attribute "shape"`},
		{"shape index out of range", model("    n = x.shape[4]\n    return x"),
			nil, `m.rn:4:17: index 4 out of range for a list of 4`},
		{"attribute without a name", model("    n = x.\n    return x"),
			nil, `m.rn:5:5: syntax error: unexpected token "return" (expected an attribute name)`},
		{"attribute keyword", model("    n = x.if\n    return x"),
			nil, `m.rn:4:11: syntax error: unexpected token "if" (expected an attribute name)`},
		// Conv2D's activation and dilation_rate.
		{"conv softmax", model("    return Conv2D(x, 4, 1, activation = \"softmax\")"),
			nil, `m.rn:4:28: Conv2D: activation "softmax" is not supported on a convolution; apply Activation(y, "softmax") to its output`},
		{"conv bad activation", model("    return Conv2D(x, 4, 1, activation = \"gelu\")"),
			nil, `m.rn:4:28: Conv2D: unknown activation "gelu" (want 'relu', 'sigmoid', 'softmax' or 'linear')`},
		{"conv activation not a string", model("    return Conv2D(x, 4, 1, activation = true)"),
			nil, `m.rn:4:28: Conv2D: activation must be a string, got bool true`},
		{"dilation zero", model("    return Conv2D(x, 4, 3, dilation_rate = [2, 0])"),
			nil, `m.rn:4:28: Conv2D: dilation_rate must be positive, got [2, 0]`},
		{"dilation wrong type", model("    return Conv2D(x, 4, 3, dilation_rate = [2])"),
			nil, `m.rn:4:28: Conv2D: dilation_rate must be an int or a list of two ints, got list [2]`},
		{"dilated kernel does not fit", model("    return Conv2D(x, 4, 3, dilation_rate = 4, name = \"wide\")"),
			nil, `m.rn:4:12: Conv2D wide: kernel 3x3 dilated 4x4 does not fit the input_1 input 8x8 (padded 8x8)`},
		{"dilated kernel does not fit in width", model("    return Conv2D(x, 4, [1, 3], dilation_rate = [9, 4], name = \"wide\")"),
			nil, `m.rn:4:12: Conv2D wide: kernel 1x3 dilated 9x4 does not fit the input_1 input 8x8 (padded 8x8)`},
		{"model parameter twice", "model m(a = 1, b = 2, a = 3) {\n    return Input(shape = [4, 4, a])\n}\n",
			nil, `m.rn:1:23: parameter "a" of m declared twice`},
		{"disconnected", model("    y = Input(shape = [8, 8, 3])\n    return Model(x, Add(x, y))"),
			nil, `m.rn:2:1: model m: graph disconnected: the outputs depend on input input_2, which Model's inputs do not list`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("m.rn", Options{Set: c.set, ReadFile: memFS(map[string]string{"m.rn": c.src, "lib.rn": lib, "bad.rn": "macro f(a) { a == 1e-5 }\n"})})
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if err.Error() != c.want {
				t.Errorf("error\n got: %s\nwant: %s", err, c.want)
			}
		})
	}
}
