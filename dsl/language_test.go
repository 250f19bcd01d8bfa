package dsl

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

// TestBuiltinHelp: every builtin has a one-line meaning, and `rnc help
// builtins` (BuiltinHelp) prints every builtin of the table once, sorted,
// with its parameters and their defaults in the table's order.
func TestBuiltinHelp(t *testing.T) {
	help := BuiltinHelp()
	lines := strings.Split(strings.TrimSuffix(help, "\n"), "\n")
	names := BuiltinNames()
	if len(lines) != len(builtins) || len(names) != len(builtins) {
		t.Fatalf("%d lines and %d names for %d builtins:\n%s", len(lines), len(names), len(builtins), help)
	}
	for i, n := range names {
		b := builtins[n]
		if b.doc == "" || strings.ContainsAny(b.doc, "\n\t") || strings.TrimSpace(b.doc) != b.doc {
			t.Errorf("%s: doc %q is not one line", n, b.doc)
		}
		var ps []string
		for _, p := range b.params {
			switch p.def {
			case required:
				ps = append(ps, p.name)
			default:
				ps = append(ps, fmt.Sprintf("%s = %s", p.name, show(p.def)))
			}
		}
		if want := n + "(" + strings.Join(ps, ", ") + ")  " + b.doc; lines[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want)
		}
		if i > 0 && names[i-1] >= n {
			t.Errorf("names not sorted: %s, %s", names[i-1], n)
		}
	}
	for _, want := range []string{
		`Conv2D(x, filters, kernel_size, strides = 1, padding = "valid", use_bias = true, activation = none, dilation_rate = 1, groups = 1, name = none)  2-D convolution, Keras's Conv2D (activation: "relu", "sigmoid" or "linear"; dilation_rate: an int or [dh, dw]; groups: channel groups, each output group reading its input group only, as Keras's and PyTorch's groups)`,
		`BatchNormalization(x, axis = -1, momentum = 0.99, epsilon = 0.001, name = none)  batch normalization of the channels by the moving mean and variance (inference), Keras's BatchNormalization`,
		`min(values)  the smallest of numbers, min(a, b, ...) or min(list)`,
	} {
		if !strings.Contains(help, want+"\n") {
			t.Errorf("help lacks the line\n%s\nhelp:\n%s", want, help)
		}
	}
}

// TestShape: a tensor's shape is Keras's, (None, H, W, C) as a list with
// none for the batch; negative indexes count from the end.
func TestShape(t *testing.T) {
	g := load(t, model(`    v = GlobalAveragePooling2D(x)
    checks = [
        x.shape == [none, 8, 8, 3], x.shape[0] == none, x.shape[1] == 8, x.shape[-1] == 3, x.shape[-4] == none,
        len(x.shape) == 4, v.shape == [none, 3], v.shape[-1] == 3,
        Conv2D(x, 5, 3, name = "c").shape == [none, 6, 6, 5],
    ]
    for i in 0 .. len(checks) - 1 {
        if not checks[i] { error("check " + i + " failed") }
    }
    return Conv2D(x, x.shape[-1] * 2, [x.shape[1] // 4, 1], name = "sized")`), nil)
	op := g.OpByName("sized")
	if op.Attrs.Filters != 6 || op.Attrs.Kernel != [2]int{2, 1} {
		t.Errorf("sized: filters %d kernel %v, want 6 and [2 1]", op.Attrs.Filters, op.Attrs.Kernel)
	}
}

// projectionLib is a macro that decides from its input's shape whether
// the shortcut needs a projection, as Keras code does with x.shape[-1].
const projectionLib = `macro block(x, filters, name = none) {
    shortcut = x
    if x.shape[-1] != filters {
        shortcut = Conv2D(x, filters, 1, name = name + "_proj")
    }
    y = Conv2D(x, filters, 3, padding = "same", activation = "relu", name = name + "_conv")
    return Add([shortcut, y], name = name + "_add")
}
`

// TestProjectionShortcut: the macro adds a 1×1 projection only where the
// channel count changes.
func TestProjectionShortcut(t *testing.T) {
	g := load(t, projectionLib+`model m() {
    x = Input(shape = [8, 8, 4])
    x = block(x, 4, name = "a")
    x = block(x, 6, name = "b")
    return block(x, 6, name = "c")
}
`, nil)
	want := "input_1 a_conv a_add b_proj b_conv b_add c_conv c_add"
	if got := names(g); got != want {
		t.Errorf("layers\n got %s\nwant %s", got, want)
	}
}

// TestConvActivation: Conv2D(activation = ...) is one layer, as in Keras
// (its summary shows one Conv2D), whose op applies the activation as its
// epilogue; its weights keep Keras's names. "linear" and none add nothing.
func TestConvActivation(t *testing.T) {
	g := load(t, model(`    a = Conv2D(x, 4, 3, activation = "relu", name = "a")
    b = Conv2D(a, 4, 1, activation = "sigmoid", name = "b")
    c = Conv2D(b, 4, 1, activation = "linear", name = "c")
    return Conv2D(c, 4, 1, activation = none, name = "d")`), nil)
	if got := names(g); got != "input_1 a b c d" {
		t.Errorf("layers %s", got)
	}
	for name, want := range map[string]string{"a": "[relu]", "b": "[sigmoid]", "c": "[]", "d": "[]"} {
		op := g.OpByName(name)
		var steps []string
		for _, s := range op.Attrs.Epi {
			steps = append(steps, map[ir.StepKind]string{ir.StepRelu: "relu", ir.StepSigmoid: "sigmoid"}[s.Kind])
		}
		if got := "[" + strings.Join(steps, ",") + "]"; got != want {
			t.Errorf("%s: epilogue %s, want %s", name, got, want)
		}
		if op.Param("kernel") == nil || op.Param("kernel").Name != name+"/kernel" || op.Param("bias").Name != name+"/bias" {
			t.Errorf("%s: weights %v", name, op.Params)
		}
	}
	var b bytes.Buffer
	if err := ir.Summary(&b, g); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\na (Conv2D)                      (None, 6, 6, 4)      112         input_1[0][0]") ||
		strings.Count(b.String(), "(Conv2D)") != 4 || strings.Contains(b.String(), "(Activation)") {
		t.Errorf("summary:\n%s", b.String())
	}
}

// TestDilation: dilation_rate spreads the kernel's taps: a k-tap kernel
// dilated d spans (k-1)·d+1 pixels, which the output size and TensorFlow's
// 'same' padding take into account; 1 is the plain conv.
func TestDilation(t *testing.T) {
	g := load(t, `model m() {
    x = Input(shape = [8, 9, 3])
    a = Conv2D(x, 4, 3, dilation_rate = 2, name = "a")
    b = Conv2D(x, 4, 3, padding = "same", dilation_rate = [2, 3], name = "b")
    c = Conv2D(x, 4, 3, strides = 2, padding = "same", dilation_rate = 2, name = "c")
    d = Conv2D(x, 4, [1, 2], strides = [2, 1], dilation_rate = [5, 4], name = "d")
    e = Conv2D(x, 4, 3, dilation_rate = 1, name = "e")
    f = Conv2D(x, 4, 3, dilation_rate = [1, 1], name = "f")
    return [a, b, c, d, e, f]
}
`, nil)
	for _, c := range []struct{ name, dil, pad, out string }{
		{"a", "[2 2]", "[0 0 0 0]", "f32[N,4,5,4] nhwc"}, // spans 5×5
		{"b", "[2 3]", "[2 2 3 3]", "f32[N,8,9,4] nhwc"}, // spans 5×7
		{"c", "[2 2]", "[1 2 2 2]", "f32[N,4,5,4] nhwc"}, // out 4×5: pads 3 and 4
		{"d", "[5 4]", "[0 0 0 0]", "f32[N,4,5,4] nhwc"}, // spans 1×5
		{"e", "[0 0]", "[0 0 0 0]", "f32[N,6,7,4] nhwc"}, // undilated: the attribute unset
		{"f", "[0 0]", "[0 0 0 0]", "f32[N,6,7,4] nhwc"},
	} {
		op := g.OpByName(c.name)
		if got := fmt.Sprint(op.Attrs.Dilation); got != c.dil {
			t.Errorf("%s: dilation %s, want %s", c.name, got, c.dil)
		}
		if got := fmt.Sprint(op.Attrs.Pad); got != c.pad {
			t.Errorf("%s: pads %s, want %s", c.name, got, c.pad)
		}
		if got := op.Out().Type.String(); got != c.out {
			t.Errorf("%s: type %s, want %s", c.name, got, c.out)
		}
	}
	// the text form carries the dilation, and reads back
	var b bytes.Buffer
	if err := ir.Print(&b, g); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{" k=3x3 s=1x1 dil=2x3 pad=2,2,3,3 ", " k=1x2 s=2x1 dil=5x4 pad=0,0,0,0 "} {
		if !strings.Contains(text, want) {
			t.Errorf("text form lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "dil=1x1") {
		t.Errorf("text form prints an undilated conv's dilation:\n%s", text)
	}
	g2, err := ir.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := ir.Print(&b2, g2); err != nil {
		t.Fatal(err)
	}
	if b2.String() != text {
		t.Errorf("Print(Parse(Print(g))) differs:\n%s\n%s", text, b2.String())
	}
}

// TestSetDottedWord: a --set value of names joined by dots is a bare word,
// a string, as it was before the language had attributes.
func TestSetDottedWord(t *testing.T) {
	src := `model m(tag = "x", n = 1) {
    if tag != "resnet.v2.small" { error("tag " + tag) }
    if n != 8 { error("n " + n) }
    return Input(shape = [4, 4, 3])
}
`
	load(t, src, map[string]string{"tag": "resnet.v2.small", "n": "[2, 8][-1]"})
}

// TestCallStatements: a call is a statement whatever its value — a layer
// builtin creates its layer (which advances Keras's automatic names even
// when nothing reads it, as in Keras), a macro may create layers or check
// its arguments, error stops.
func TestCallStatements(t *testing.T) {
	g := load(t, `macro check(k) {
    if k < 0 { error("negative") }
}
macro stem(x) {
    return Conv2D(x, 4, 1)
}
model m() {
    x = Input(shape = [4, 4, 3])
    check(1)
    stem(x)
    Conv2D(x, 4, 1)
    (MaxPooling2D(x))
    return Conv2D(x, 4, 1)
}
`, nil)
	// the unread layers are pruned, as Keras's Model keeps only the
	// layers between its inputs and outputs
	if got := names(g); got != "input_1 conv2d_2" {
		t.Errorf("layers %s", got)
	}
}
