package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rnc-dev/rnc/ir"
)

func load(t *testing.T, src string, set map[string]string) *ir.Graph {
	t.Helper()
	g, err := Load("m.rn", Options{Set: set, ReadFile: memFS(map[string]string{"m.rn": src, "lib.rn": lib})})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func names(g *ir.Graph) string {
	var n []string
	for _, op := range g.Ops {
		n = append(n, op.Name())
	}
	return strings.Join(n, " ")
}

func TestAutoNames(t *testing.T) {
	g := load(t, model(`    a = MaxPooling2D(x, 1, strides = 2)
    b = MaxPooling2D(x, 1, strides = 2)
    c = Conv2D(x, 3, 1)
    d = Conv2D(x, 3, 1, strides = 2, name = "named")
    e = BatchNormalization(c)
    f = GlobalAveragePooling2D(Add(a, b, d, MaxPooling2D(e, 1, strides = 2)))
    return Dense(f, classes, activation = "softmax")`), nil)
	want := "input_1 max_pooling2d max_pooling2d_1 conv2d named batch_normalization max_pooling2d_2 add global_average_pooling2d dense"
	if got := names(g); got != want {
		t.Errorf("names\n got %s\nwant %s", got, want)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"MaxPooling2D": "max_pooling2d", "Conv2D": "conv2d", "BatchNormalization": "batch_normalization",
		"GlobalAveragePooling2D": "global_average_pooling2d", "ZeroPadding2D": "zero_padding2d", "Dense": "dense",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestControlFlow(t *testing.T) {
	g := load(t, model(`    n = 0
    for i in 3 .. 2 { n = n + 100 }
    for i in 1 .. 3 { n = n + i }
    if n == 5 { k = "five" } else if n == 6 { k = "six" } else { k = "other" }
    s = "c" + 7 + "_" + k
    q = [-7 // 2, -7 % 2, 7 % -2, 7 / 2 * 2, 2 + 3 * 4, not (1 < 2 and 2 < 1)]
    if q != [-4, 1, -1, 7.0, 14, true] { return 0 }
    return Conv2D(x, classes, 1, name = s)`), nil)
	if got := g.Ops[1].Name(); got != "c7_six" {
		t.Errorf("layer name %q, want c7_six", got)
	}
}

func TestSet(t *testing.T) {
	src := `model m(input_shape = [8, 8, 3], classes = 4, top = true, pooling = "avg", eps = 0.5) {
    x = Input(shape = input_shape)
    x = BatchNormalization(x, epsilon = eps)
    if pooling == "max" { x = GlobalMaxPooling2D(x) } else { x = GlobalAveragePooling2D(x) }
    if top { x = Dense(x, classes) }
    return x
}
`
	g := load(t, src, map[string]string{"input_shape": "[16, 12, 5]", "classes": "10", "top": "true", "pooling": "max", "eps": "1e-3"})
	if got := g.Inputs()[0].Type.String(); got != "f32[N,16,12,5] nhwc" {
		t.Errorf("input %s", got)
	}
	if got := names(g); got != "input_1 batch_normalization global_max_pooling2d dense" {
		t.Errorf("names %s", got)
	}
	if got := g.Outputs[0].Type.Dims[0]; got != 10 {
		t.Errorf("classes %d", got)
	}
	if eps := g.Ops[1].Attrs.Eps; eps != 1e-3 {
		t.Errorf("eps %v", eps)
	}
}

func TestSamePadding(t *testing.T) {
	g := load(t, `model m() {
    x = Input(shape = [7, 8, 3])
    a = Conv2D(x, 4, 3, strides = 2, padding = "same", name = "a")
    b = Conv2D(x, 4, [1, 4], padding = "same", name = "b")
    c = MaxPooling2D(x, 2, padding = "same", name = "c")
    return [a, b, c]
}
`, nil)
	for _, c := range []struct{ name, pad, out string }{
		{"a", "[1 1 0 1]", "f32[N,4,4,4] nhwc"}, // TensorFlow puts the odd pixel at the bottom/right
		{"b", "[0 0 1 2]", "f32[N,7,8,4] nhwc"},
		{"c", "[0 1 0 0]", "f32[N,4,4,3] nhwc"},
	} {
		op := g.OpByName(c.name)
		if got := fmt.Sprint(op.Attrs.Pad); got != c.pad {
			t.Errorf("%s pads %s, want %s", c.name, got, c.pad)
		}
		if got := op.Out().Type.String(); got != c.out {
			t.Errorf("%s type %s, want %s", c.name, got, c.out)
		}
	}
}

// TestModels expands every model in models/ and checks the layer counts
// Keras gives them. V2: 5 stem layers (input, conv1_pad, conv1_conv,
// pool1_pad, pool1_pool) + 11 per block + 4 conv shortcuts + 3 strided
// MaxPooling2D shortcuts + 4 top layers (ResNet50V2: 192, the rows of
// Keras's summary). V1: 7 stem layers + 10 per block + 2 per conv shortcut
// (4) + 2 top layers.
func TestModels(t *testing.T) {
	v2 := func(blocks int) int { return 5 + 11*blocks + 7 + 4 }
	v1 := func(blocks int) int { return 7 + 10*blocks + 8 + 2 }
	want := map[string]int{"resnet50v2": v2(16), "resnet101v2": v2(33), "resnet152v2": v2(50), "resnet50": v1(16), "resnet101": v1(33), "resnet152": v1(50)}
	files, _ := filepath.Glob(filepath.Join("..", "models", "*.rn"))
	if len(files) < 9 {
		t.Fatalf("found %d models", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".rn")
		g, err := Load(f, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if n, ok := want[name]; ok && len(g.Ops) != n {
			t.Errorf("%s: %d layers, want %d", name, len(g.Ops), n)
		}
	}
}

// hostile are sources that once hung, overflowed the stack or exhausted
// memory, and others of their kind.
var hostile = []string{
	"model m() {\n    s = [1]\n" + strings.Repeat("    s = [s, s]\n", 28) + "    return s == s\n}\n",
	"model m() {\n    x = " + strings.Repeat("-", 1000000) + "1\n    return x\n}\n",
	"model m() {\n    x = " + strings.Repeat("not ", 200000) + "true\n    return x\n}\n",
	"model m() {\n    x = \"" + strings.Repeat("a", maxSource-40) + "\"\n}\n",
	"model m() {\n    x = [" + strings.Repeat("1,", maxSource/2-20) + "]\n}\n",
	"model m() {\n    x = " + strings.Repeat("(", 1001) + "1" + strings.Repeat(")", 1001) + "\n}\n",
	"model m() {\n    x = " + strings.Repeat("[", 999) + strings.Repeat("]", 999) + "\n    return x\n}\n",
	"model m() {\n    if true {}" + strings.Repeat(" else if true {}", 1000) + "\n}\n",
	"model m() {\n    x = 1" + strings.Repeat(" + 1", 200000) + "\n    return x\n}\n",
	"import \"/dev/zero\"\nmodel m() { return 1 }\n",
	"import \"m.rn\"\nmodel m() { return 1 }\n",
	"model m() {\n    for i in 0 .. 9223372036854775807 { }\n}\n",
	"model m() {\n    l = [0]\n    for i in 1 .. 15 { l = l + l }\n    for i in 1 .. 1000000 { k = max(l) + len(l + l) }\n}\n",
	"model m() {\n    s = 'ab'\n    for i in 1 .. 10 { s = s + s }\n    for i in 1 .. 1000000 { k = s + s }\n}\n",
	"model m() {\n    x = Input(shape = [4])\n    for i in 1 .. 100000 { x = Dense(x, 1) }\n    return x\n}\n",
	"model m() {\n    x = Input(shape = [1048576, 1048576, 1048576])\n    return Conv2D(x, 2147483647, 1048576, padding = 'same')\n}\n",
	"model m() {\n    x = Input(shape = [1024, 1024, 3])\n    return Conv2D(x, 2147483647, 1048576, padding = 'same')\n}\n",
	"model m() {\n    x = Input(shape = [1048576])\n    return Dense(x, 2147483647)\n}\n",
}

// FuzzLoad: no source text makes the parser or expander panic, and every
// source stops at a budget: its allocations stay bounded. The seed corpus
// (the real models and libraries, and the hostile sources) runs in plain
// `go test`.
func FuzzLoad(f *testing.F) {
	for _, src := range corpus(f) {
		f.Add(src)
	}
	f.Add(model("    return Conv2D(x, 4, 3)"))
	f.Add(model("    x = loop_a(x)\n    return x"))
	for _, src := range hostile {
		f.Add(src)
	}
	libs := map[string]string{"lib.rn": lib}
	for _, name := range []string{"resnet.rn", "variants.rn"} {
		src, err := os.ReadFile(filepath.Join("..", "models", "lib", name))
		if err != nil {
			f.Fatal(err)
		}
		libs["lib/"+name], libs["../lib/"+name] = string(src), string(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		files := map[string]string{"m.rn": src}
		for k, v := range libs {
			files[k] = v
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		g, err := Load("m.rn", Options{ReadFile: memFS(files), MaxSteps: 200_000})
		runtime.ReadMemStats(&m1)
		total := m1.TotalAlloc - m0.TotalAlloc
		if err == nil {
			if err := ir.Verify(g); err != nil {
				t.Fatalf("expanded graph does not verify: %v", err)
			}
		} else if strings.Contains(err.Error(), "internal error") {
			t.Fatalf("a source gives an internal error: %v", err)
		}
		// parsing: at most 200 bytes per source byte (TestParseMemory);
		// evaluating: the value budget (16 bytes an element), 20,000
		// layers, and the rest
		if limit := 200*uint64(len(src)) + 512<<20; total > limit {
			t.Fatalf("loading %d bytes allocated %d MB", len(src), total>>20)
		}
	})
}
